package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
	"streamedge/media/rtmp/chunk"
)

// trackFile is the default test file cut down to some of its tracks.
func trackFile(t *testing.T, tracks string) string {
	t.Helper()
	src := mediatest.FLVFile(t, mediatest.Media{})
	if tracks == "audio+video" {
		return src
	}
	out := filepath.Join(t.TempDir(), tracks+".flv")
	drop := map[string]string{"audio": "-vn", "video": "-an"}[tracks]
	if b, err := exec.Command("ffmpeg", "-loglevel", "error", "-i", src, "-c", "copy", drop, out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", tracks, err, b)
	}
	return out
}

// A relayed stream is the stream: the HTTP-FLV header flags and every data
// tag a player gets are the same bytes on both workers, for each set of
// tracks; metadata comes without duration and filesize; an RTMP player gets
// one |RtmpSampleAccess wherever it lands, an HTTP-FLV player none.
func TestRelayedStreamIsTheSame(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	for _, tt := range []struct {
		tracks string
		flags  byte
	}{{"audio", 0x04}, {"video", 0x01}, {"audio+video", 0x05}} {
		t.Run(tt.tracks, func(t *testing.T) {
			file := trackFile(t, tt.tracks)
			s := startServer(t, "", "-w", "2")
			_, pubWorker := publishFFmpegFile(t, s, "same", file)
			players := placePlayers(t, s, "same", 2, pubWorker)
			seen := map[string][][]byte{} // protocol -> data bodies of the first player
			for _, p := range players {
				media := 0
				p.readUntil(t, 20*time.Second, func(f frame) bool {
					if isMedia(f) {
						media++
					}
					return media == 30
				})
				var data [][]byte
				proto := "rtmp"
				if p.rtmp == nil {
					proto = "flv"
					if p.head[4] != tt.flags {
						t.Fatalf("%s: FLV header flags 0x%02x, want 0x%02x", p.name, p.head[4], tt.flags)
					}
				}
				for _, f := range p.frames {
					if f.Type != flv.TagScript {
						continue
					}
					data = append(data, f.Data)
					if bytes.Contains(f.Data, []byte("\x00\x08duration")) || bytes.Contains(f.Data, []byte("\x00\x08filesize")) {
						t.Fatalf("%s: metadata with duration or filesize: %q", p.name, f.Data)
					}
				}
				access := 0
				for _, d := range data {
					if bytes.Contains(d, []byte("|RtmpSampleAccess")) {
						access++
					}
				}
				if want := map[string]int{"rtmp": 1, "flv": 0}[proto]; access != want {
					t.Fatalf("%s got %d |RtmpSampleAccess, want %d", p.name, access, want)
				}
				if first, ok := seen[proto]; !ok {
					seen[proto] = data
				} else if !equalAll(first, data) {
					t.Fatalf("%s got data tags %q, the player on the other worker %q", p.name, data, first)
				}
			}
		})
	}
}

func equalAll(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// rtmpdump and GStreamer's rtmpsrc (both librtmp) play without the
// handshake warning they print for a server that does not answer in kind.
func TestLibrtmpClientsPlayWithoutWarnings(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	for _, tool := range []string{"rtmpdump", "gst-launch-1.0"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (make deps installs it): %v", tool, err)
		}
	}
	forWorkers(t, func(t *testing.T, workers int) {
		s := startServer(t, "", "-w", fmt.Sprint(workers))
		publishFFmpeg(t, s, "librtmp")
		for i := range workers { // the kernel picks the worker: with two, try two
			out := filepath.Join(t.TempDir(), fmt.Sprintf("dump%d.flv", i))
			dump := exec.Command("rtmpdump", "-V", "--live", "-r", s.rtmpURL("librtmp"), "-o", out)
			var dumpOut lockedBuffer
			dump.Stdout, dump.Stderr = &dumpOut, &dumpOut
			if err := dump.Start(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			gst := exec.CommandContext(ctx, "gst-launch-1.0", "rtmpsrc", "location="+s.rtmpURL("librtmp")+" live=1", "num-buffers=20", "!", "fakesink")
			gst.Env = append(os.Environ(), "GST_DEBUG=rtmp:4")
			gstLog, gstErr := gst.CombinedOutput()
			cancel()
			// A live dump runs until it is stopped: once it has saved what
			// the test asks of it, or at the deadline.
			for deadline := time.Now().Add(20 * time.Second); countVideoTags(t, out) < 10 && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
			dump.Process.Kill()
			dump.Wait()
			dumpLog := []byte(dumpOut.String())
			for name, log := range map[string][]byte{"rtmpdump": dumpLog, "gst-launch-1.0": gstLog} {
				if bytes.Contains(log, []byte("signature does not match")) || bytes.Contains(log, []byte("not genuine")) {
					t.Fatalf("%s warned about the handshake:\n%s", name, log)
				}
			}
			if gstErr != nil {
				t.Fatalf("gst-launch-1.0 rtmpsrc: %v\n%s", gstErr, gstLog)
			}
			if n := countVideoTags(t, out); n < 10 {
				t.Fatalf("rtmpdump saved %d video tags:\n%s", n, dumpLog)
			}
		}
	})
}

func countVideoTags(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0 // not written yet
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := flv.NewReader(f)
	if _, _, err := r.ReadHeader(); err != nil {
		return 0
	}
	n := 0
	for {
		tg, err := r.ReadTag()
		if err != nil {
			return n
		}
		if tg.Type == flv.TagVideo {
			n++
		}
	}
}

// Pause and unpause answer on every worker, and so do HEAD and OPTIONS on
// a live .flv.
func TestPauseHeadAndOptionsOnEveryWorker(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	forWorkers(t, func(t *testing.T, workers int) {
		s := startServer(t, "", "-w", fmt.Sprint(workers))
		_, pubWorker := publishFFmpegFile(t, s, "ctl", mediatest.FLVFile(t, mediatest.Media{}))
		for _, p := range placePlayers(t, s, "ctl", workers, pubWorker, "rtmp") {
			p.readUntil(t, 10*time.Second, isMedia)
			if err := p.rtmp.Pause(true); err != nil {
				t.Fatal(err)
			}
			awaitStatus(t, p, "NetStream.Pause.Notify")
			if err := p.rtmp.Pause(false); err != nil {
				t.Fatal(err)
			}
			awaitStatus(t, p, "NetStream.Unpause.Notify")
			p.frames = nil
			p.readUntil(t, 10*time.Second, func(f frame) bool { return f.Type == flv.TagVideo && !flv.IsVideoSequenceHeader(f.Data) })
			if f := p.frames[len(p.frames)-1]; !flv.IsVideoKeyPicture(f.Data) {
				t.Fatalf("%s resumed on a frame that is not a keyframe", p.name)
			}
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for range 4 * workers { // fresh connections, so both workers answer
			for method, want := range map[string]int{http.MethodHead: 200, http.MethodOptions: 204} {
				req, _ := http.NewRequest(method, s.flvURL("ctl"), nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
					t.Fatalf("%s: %s %v", method, resp.Status, resp.Header)
				}
				if method == http.MethodHead && resp.Header.Get("Content-Type") != "video/x-flv" {
					t.Fatalf("HEAD: content type %q", resp.Header.Get("Content-Type"))
				}
			}
		}
	})
}

// awaitStatus reads a player's messages until an onStatus with code.
func awaitStatus(t *testing.T, p *mplayer, code string) {
	t.Helper()
	p.rtmp.Conn().SetReadDeadline(time.Now().Add(10 * time.Second))
	defer p.rtmp.Conn().SetReadDeadline(time.Time{})
	for {
		msg, err := p.rtmp.ReadAny()
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v", p.name, code, err)
		}
		if msg.TypeID == chunk.TypeCommandAMF0 && rtmp.ParseStatus(msg) == code {
			return
		}
	}
}

// A player whose link carries a tenth of the stream's bitrate is still
// skipped, and disconnected after max_skips, on either worker. The
// smallest send buffer keeps it short: the server's socket is full after
// a fraction of a second, and every write after that waits ten times its
// media's length.
func TestSlowPlayerIsSkippedThenDropped(t *testing.T) {
	t.Parallel()
	forWorkers(t, func(t *testing.T, workers int) {
		s := startServer(t, "play:\n  queue_length: 1s\n  max_skips: 1\n  send_timeout: 60s\n  send_buffer: 16384\n", "-w", fmt.Sprint(workers))
		pub, pubWorker := startGoPublisher(t, s, "slow")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { syntheticStream(pub, stop) })
		t.Cleanup(func() { close(stop); wg.Wait() })
		players := placePlayers(t, s, "slow", workers, pubWorker, "flv")
		for _, p := range players {
			if tc, ok := p.nc.(*net.TCPConn); ok {
				tc.SetReadBuffer(16 << 10)
			}
			go readSlowly(p.nc, syntheticRate/10)
		}
		for _, p := range players {
			local := p.nc.LocalAddr().String()
			line := s.logs.wait(t, "flv play end", func(l map[string]any) bool { return l["client"] == local }, 150*time.Second)
			if reason := fmt.Sprint(line["reason"]); !strings.Contains(reason, "falling behind") || line["skips"] != 1.0 {
				t.Fatalf("%s ended with %v skips: %s", p.name, line["skips"], reason)
			}
		}
	})
}

// syntheticRate is the bitrate of syntheticStream in bytes per second.
const syntheticRate = 500 << 10

// syntheticStream publishes 4 Mbit/s of H.264-shaped video in real time,
// a keyframe every 240 ms (short GOPs keep the test short: a skip resends
// one, at a tenth of the rate), until stop.
func syntheticStream(p *goPublisher, stop <-chan struct{}) {
	frame := make([]byte, syntheticRate/mediatest.FPS)
	p.c.WriteMedia(flv.TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e})
	tick := time.NewTicker(time.Second / mediatest.FPS)
	defer tick.Stop()
	for i := 0; ; i++ {
		frame[0], frame[1] = 0x27, 1
		if i%6 == 0 {
			frame[0] = 0x17
		}
		if p.c.WriteMedia(flv.TagVideo, uint32(i*1000/mediatest.FPS), frame) != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// readSlowly reads rate bytes per second until the connection closes.
func readSlowly(nc net.Conn, rate int) {
	buf := make([]byte, rate/10)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if _, err := nc.Read(buf); err != nil {
			return
		}
	}
}
