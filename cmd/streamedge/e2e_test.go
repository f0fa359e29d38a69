package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp/handshake"

	"streamedge/media/flv"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp/chunk"
)

func publishFFmpeg(t *testing.T, s *server, stream string) *mediatest.Proc {
	t.Helper()
	p, _ := publishFFmpegFile(t, s, stream, mediatest.FLVFile(t, mediatest.Media{}))
	return p
}

// publishFFmpegFile is publishFFmpeg of file, looped; it also says which
// worker the publisher landed on.
func publishFFmpegFile(t *testing.T, s *server, stream, file string) (*mediatest.Proc, int) {
	t.Helper()
	// A bound in case the cleanup never runs, not the test's: two minutes
	// ended the publisher under the RTMP half of a 130 s move test (-race,
	// a busy machine), and its player "stalled" (issue 12).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	p := mediatest.StartFFmpegPublish(t, ctx, file, s.rtmpURL(stream), true)
	line := s.logs.wait(t, "rtmp publish start", func(l map[string]any) bool {
		return strings.HasSuffix(fmt.Sprint(l["stream"]), "/"+stream)
	}, 30*time.Second) // ffmpeg's own start took over 10 s on a busy machine
	w, _ := line["worker"].(float64)
	return p, int(w)
}

func TestFFprobeSeesTheStreamOverRTMPAndHTTPFLV(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	s := startServer(t, "")
	publishFFmpeg(t, s, "livestream")
	for _, url := range []string{s.rtmpURL("livestream"), s.flvURL("livestream")} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		res := mediatest.FFprobe(t, ctx, url)
		cancel()
		if res.Err != nil {
			t.Fatalf("ffprobe %s: %v\n%s", url, res.Err, res.Output)
		}
		v, okV := res.Stream("video")
		a, okA := res.Stream("audio")
		if !okV || !okA || v.CodecName != "h264" || a.CodecName != "aac" || v.Width != 320 || v.Height != 240 {
			t.Fatalf("ffprobe %s: %+v, want h264 320x240 and aac", url, res.Streams)
		}
		// ffmpeg's FLV demuxer reads onMetaData as the stream's metadata
		// only at timestamp 0; stamped at the media's time it becomes a
		// third (data) stream and its values are lost.
		if len(res.Streams) != 2 || res.Tags["encoder"] == "" {
			t.Fatalf("ffprobe %s: streams %+v, tags %v; want exactly video and audio, and the metadata's encoder tag", url, res.Streams, res.Tags)
		}
	}
}

// playerReport is what one Go player saw.
type playerReport struct {
	name       string
	videoByTS  map[uint32][32]byte
	videoCount int
	err        error
}

// watch reads until it has n video frames, checking what every player must
// see: sequence headers before any frame of their track, a keyframe first,
// timestamps that never go back.
func watch(name string, src mediaSource, n int) playerReport {
	rep := playerReport{name: name, videoByTS: map[uint32][32]byte{}}
	defer src.close()
	var haveVideoSeq, haveAudioSeq, haveKey bool
	last := map[uint8]uint32{}
	for rep.videoCount < n {
		f, err := src.next()
		if err != nil {
			rep.err = fmt.Errorf("after %d video frames: %w", rep.videoCount, err)
			return rep
		}
		if prev, ok := last[f.Type]; ok && f.Timestamp < prev {
			rep.err = fmt.Errorf("type %d timestamp went back from %d to %d", f.Type, prev, f.Timestamp)
			return rep
		}
		last[f.Type] = f.Timestamp
		switch f.Type {
		case flv.TagVideo:
			if flv.IsVideoSequenceHeader(f.Data) {
				haveVideoSeq = true
				continue
			}
			if !haveVideoSeq {
				rep.err = errors.New("video frame before the AVC sequence header")
				return rep
			}
			if !haveKey && !flv.IsVideoKeyframe(f.Data) {
				rep.err = errors.New("first video frame is not a keyframe")
				return rep
			}
			haveKey = true
			rep.videoByTS[f.Timestamp] = sha256.Sum256(f.Data)
			rep.videoCount++
		case flv.TagAudio:
			if flv.IsAudioSequenceHeader(f.Data) {
				haveAudioSeq = true
			} else if !haveAudioSeq {
				rep.err = errors.New("audio frame before the AAC sequence header")
				return rep
			}
		}
	}
	return rep
}

func TestConcurrentPlayersReceiveTheSameMedia(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	s := startServer(t, "")
	publishFFmpeg(t, s, "shared")
	const players = 20
	reports := make([]playerReport, players)
	var wg sync.WaitGroup
	for i := range players {
		wg.Go(func() {
			// Stagger joins over a GOP and more so players start mid-GOP.
			time.Sleep(time.Duration(i) * 70 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			src, name, err := playMixed(ctx, s, "shared", i)
			if err != nil {
				reports[i] = playerReport{name: name, err: err}
				return
			}
			reports[i] = watch(name, src, 50)
		})
	}
	wg.Wait()
	// Every frame two players both received must be byte for byte the same.
	reference := map[uint32][32]byte{}
	for _, rep := range reports {
		if rep.err != nil {
			t.Fatalf("%s: %v", rep.name, rep.err)
		}
		for ts, sum := range rep.videoByTS {
			if ref, ok := reference[ts]; ok && ref != sum {
				t.Fatalf("%s got different bytes for the frame at %d ms", rep.name, ts)
			}
			reference[ts] = sum
		}
	}
}

func TestSecondPublisherIsRefusedAndTheFirstKeepsStreaming(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	s := startServer(t, "")
	first := publishFFmpeg(t, s, "taken")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	second := mediatest.StartFFmpegPublish(t, ctx, mediatest.FLVFile(t, mediatest.Media{}), s.rtmpURL("taken"), false)
	select {
	case <-second.Done():
	case <-ctx.Done():
		t.Fatal("the second publisher was not refused")
	}
	if second.Err() == nil {
		t.Fatalf("the second ffmpeg exited 0; stderr: %s", second.Stderr())
	}
	s.logs.wait(t, "rtmp connection closed", func(l map[string]any) bool {
		return strings.Contains(fmt.Sprint(l["reason"]), "already being published")
	}, 5*time.Second)
	select {
	case <-first.Done():
		t.Fatalf("the first publisher stopped: %s", first.Stderr())
	default:
	}
	if rep := watch("player", waitPlayable(t, playFLV, s.flvURL("taken")), 30); rep.err != nil {
		t.Fatalf("after the refusal: %v", rep.err)
	}
}

// ffmpegPlayer runs ffmpeg reading url and remuxing to FLV on its stdout,
// and counts the video frames it delivers.
type ffmpegPlayer struct {
	cmd    *exec.Cmd
	frames atomic.Int64
	done   chan error
	back   atomic.Bool // a timestamp went back
}

func startFFmpegPlayer(t *testing.T, url string) *ffmpegPlayer {
	t.Helper()
	p := &ffmpegPlayer{done: make(chan error, 1)}
	p.cmd = exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", url, "-c", "copy", "-f", "flv", "pipe:1")
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	go func() {
		r := flv.NewReader(out)
		if _, _, err := r.ReadHeader(); err != nil {
			p.done <- err
			return
		}
		var last uint32
		for {
			tag, err := r.ReadTag()
			if err != nil {
				p.done <- err
				return
			}
			if tag.Type == flv.TagVideo {
				if tag.Timestamp < last {
					p.back.Store(true)
				}
				last = tag.Timestamp
				p.frames.Add(1)
			}
		}
	}()
	return p
}

func (p *ffmpegPlayer) waitFrames(t *testing.T, n int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for p.frames.Load() < n {
		select {
		case err := <-p.done:
			t.Fatalf("ffmpeg player stopped after %d frames: %v", p.frames.Load(), err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ffmpeg player has %d frames after %v, want %d", p.frames.Load(), d, n)
		}
	}
}

func TestPlayersSurviveAPublisherRestart(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	s := startServer(t, "")
	pub := publishFFmpeg(t, s, "restart")
	players := []*ffmpegPlayer{startFFmpegPlayer(t, s.rtmpURL("restart")), startFFmpegPlayer(t, s.flvURL("restart"))}
	for _, p := range players {
		p.waitFrames(t, 25, 20*time.Second)
	}
	pub.Stop()
	s.logs.wait(t, "rtmp publish end", nil, 5*time.Second)
	time.Sleep(500 * time.Millisecond) // players sit idle without a publisher
	before := []int64{players[0].frames.Load(), players[1].frames.Load()}
	publishFFmpeg(t, s, "restart")
	for i, p := range players {
		p.waitFrames(t, before[i]+50, 20*time.Second)
		if p.back.Load() {
			t.Errorf("player %d saw video timestamps go back", i)
		}
	}
}

func TestGarbageAndIdleConnectionsAreClosed(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	s := startServer(t, "rtmp:\n  handshake_timeout: 2s\n  max_message_size: 65536\n")
	publishFFmpeg(t, s, "robust")
	for _, addr := range []string{s.rtmp, s.http} {
		garbage, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer garbage.Close()
		garbage.Write([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n\x00\xff"))
		idle, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		for name, c := range map[string]net.Conn{"garbage": garbage, "idle": idle} {
			c.SetReadDeadline(time.Now().Add(8 * time.Second))
			if _, err := io.ReadAll(c); err != nil {
				t.Fatalf("%s connection to %s not closed: %v", name, addr, err)
			}
		}
	}
	// A message over the size limit, after a good handshake, is refused.
	big, err := net.Dial("tcp", s.rtmp)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	if err := handshake.HandshakeWithServer(big, big, &handshake.Config{}); err != nil {
		t.Fatal(err)
	}
	var hdr [chunk.MaxHeaderLen]byte
	n := chunk.PutHeader(hdr[:], chunk.CSIDVideo, chunk.TypeVideo, 0, 1<<20, 1)
	big.Write(hdr[:n])
	big.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(big); err != nil {
		t.Fatalf("oversized message: connection not closed: %v", err)
	}
	s.logs.wait(t, "rtmp connection closed", func(l map[string]any) bool {
		return strings.Contains(fmt.Sprint(l["reason"]), "larger than the limit")
	}, 5*time.Second)
	resp, err := http.Get("http://" + s.http + "/no/such/../path")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("nonsense path: %s", resp.Status)
	}
	if rep := watch("player", waitPlayable(t, playFLV, s.flvURL("robust")), 25); rep.err != nil {
		t.Fatal(rep.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	src, err := playRTMP(ctx, s.rtmpURL("robust"))
	if err != nil {
		t.Fatal(err)
	}
	if rep := watch("player", src, 25); rep.err != nil {
		t.Fatal(rep.err)
	}
}

func TestSignalsStopTheServerCleanly(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			s := startServer(t, "")
			publishFFmpeg(t, s, "stop")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			src, err := playRTMP(ctx, s.rtmpURL("stop"))
			if err != nil {
				t.Fatal(err)
			}
			defer src.close()
			flvSrc := waitPlayable(t, playFLV, s.flvURL("stop"))
			defer flvSrc.close()
			if took := s.stop(sig, 5*time.Second); took > 5*time.Second {
				t.Fatalf("took %v", took)
			}
			if s.exitErr != nil {
				t.Fatalf("exit: %v", s.exitErr)
			}
			// The players were closed by the server, not left hanging.
			for _, p := range []mediaSource{src, flvSrc} {
				for {
					if _, err := p.next(); err != nil {
						break
					}
				}
			}
		})
	}
}

func TestConfigTest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("workers: 2\n"), 0o644)
	os.WriteFile(bad, []byte("workers: 2\nrtmp:\n  chunk_size: 99\n"), 0o644)
	out, err := exec.Command(binary, "-t", "-c", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "successful") {
		t.Fatalf("good config: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "-t", "-c", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+":3:") {
		t.Fatalf("bad config: %v\n%s", err, out)
	}
}
