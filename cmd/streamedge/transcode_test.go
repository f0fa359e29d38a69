package main

import (
	"bytes"
	"context"
	bin "encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
	"streamedge/media/transcode"
	"streamedge/media/webrtc/rtctest"
	"streamedge/supervisor"
)

func requireTranscode(t *testing.T) {
	t.Helper()
	mediatest.RequireFFmpeg(t)
	if !transcode.Built() {
		t.Skip("audio transcoding is not built (cgo)")
	}
}

// checkH264 writes a player's pictures as an Annex B file and has ffmpeg
// decode all of it: the right size and not one decode error.
func checkH264(t *testing.T, name string, frames [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v.h264")
	if err := os.WriteFile(path, bytes.Join(frames, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_name,width,height",
		"-of", "csv=p=0", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "h264,320,240" {
		t.Fatalf("%s: ffprobe of %d frames: %v: %q", name, len(frames), err, out)
	}
	out, err = exec.Command("ffmpeg", "-v", "error", "-nostdin", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("%s: ffmpeg decoding %d frames: %v: %s", name, len(frames), err, out)
	}
}

// opusEnergy decodes Opus packets with the codec library and returns the
// audio's RMS and duration.
func opusEnergy(t *testing.T, packets [][]byte) (rms float64, seconds float64) {
	t.Helper()
	dec, err := transcode.New(transcode.Params{From: transcode.Opus, InRate: 48000, InChannels: 2, To: transcode.PCM, OutRate: 48000, OutChannels: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var sum float64
	n := 0
	for _, p := range packets {
		out, err := dec.Transcode(p, 0, nil)
		if err != nil {
			t.Fatalf("opus packet of %d bytes does not decode: %v", len(p), err)
		}
		for _, o := range out {
			for i := 0; i+4 <= len(o.Data); i += 4 {
				v := float64(math.Float32frombits(bin.LittleEndian.Uint32(o.Data[i:])))
				sum += v * v
				n++
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	return math.Sqrt(sum / float64(n)), float64(n) / 48000
}

// transcoders is the host's number of audio transcoders, once the
// workers' reports agree on it for two reports running.
func (s *server) transcoders(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		total := 0
		for _, w := range s.workers(t) {
			if w.Load != nil {
				total += w.Load.Transcoders
			}
		}
		if total == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d transcoders on the host, want %d", total, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// streamRTC is the API's rtc note of a stream.
func (s *server) streamRTC(t *testing.T, stream string) *supervisor.StreamInfo {
	t.Helper()
	var doc struct{ Streams []supervisor.StreamInfo }
	s.apiGet(t, "/api/v1/streams", &doc)
	for _, st := range doc.Streams {
		if st.Stream == stream {
			return &st
		}
	}
	return nil
}

// TestRTMPToWHEPOnEveryWorker (issue 15 tests 1 and 5): ffmpeg publishes
// H.264 + AAC over RTMP to -w 2; a WHEP player on each worker gets H.264
// that ffmpeg decodes at 320x240 without an error and Opus that decodes
// to the tone (energy). The host has one transcoder for the stream
// however many players, on both workers, play it (10 more; 100 more only
// with STREAMEDGE_KNOWN_FLAKY=1, for its time).
func TestRTMPToWHEPOnEveryWorker(t *testing.T) {
	heavy(t)
	requireTranscode(t)
	s, ports := startRTC(t, 2)
	publishFFmpeg(t, s, "aac")
	url := s.rtcURL("/rtc/v1/whep/?app=live&stream=aac")
	seen := playerOnEachWorker(t, url, ports)
	for slot, p := range seen {
		frames, opus := p.AwaitFrames(t, 75) // 3 s of both
		name := fmt.Sprintf("player on worker %d", slot)
		checkH264(t, name, frames)
		// lavfi's sine is at 1/8 of full scale: an RMS of 0.088.
		if rms, secs := opusEnergy(t, opus); rms < 0.04 || secs < 1.4 {
			t.Fatalf("%s: %d Opus packets decode to %.2f s with RMS %.4f: not the tone", name, len(opus), secs, rms)
		}
	}
	s.transcoders(t, 1)
	if st := s.streamRTC(t, "__defaultVhost__/live/aac"); st == nil || st.RTC == nil || st.RTC.Audio != "aac->opus" {
		t.Fatalf("API stream: %+v", st)
	}
	// 10 more players, then 100: still one transcoder.
	for _, n := range []int{10, 100} {
		t.Run(fmt.Sprintf("%d players", n), func(t *testing.T) {
			// The 100 handshakes at once used to lose a few sessions to
			// writes queued on Go's write lock of the RTC socket (fixed,
			// and tested alone by webrtc's TestWritesBesideGoLock).
			var wg sync.WaitGroup
			players := make([]*rtctest.Player, n)
			for i := range players {
				wg.Go(func() { players[i] = rtctest.NewPlayer(t).Play(t, url) })
			}
			wg.Wait()
			for _, p := range players {
				p.AwaitFrames(t, 5)
			}
			s.transcoders(t, 1)
			for _, p := range players {
				p.PC.Close()
			}
		})
	}
	if n := s.logs.count("rtc bridge start"); n != 1 {
		t.Fatalf("%d bridges started for one stream", n)
	}
}

// TestWHIPToRTMPHasAAC (issue 15 test 2): a pion WHIP publisher of H.264
// and Opus; ffprobe over RTMP and HTTP-FLV sees h264 320x240 and aac, and
// ffmpeg plays 10 s of it over both without an error, timestamps going
// forward.
func TestWHIPToRTMPHasAAC(t *testing.T) {
	heavy(t)
	requireTranscode(t)
	s, _ := startRTC(t, 2)
	publishRTC(t, s, "whip")
	for _, url := range []string{s.rtmpURL("whip"), s.flvURL("whip")} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res := waitProbe(t, ctx, url)
		cancel()
		v, okv := res.Stream("video")
		a, oka := res.Stream("audio")
		if !okv || v.CodecName != "h264" || v.Width != 320 || v.Height != 240 || !oka || a.CodecName != "aac" {
			t.Fatalf("%s: video %+v (%v), audio %+v (%v)", url, v, okv, a, oka)
		}
	}
	for _, url := range []string{s.rtmpURL("whip"), s.flvURL("whip")} {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-nostdin", "-i", url, "-t", "10",
			"-map", "0:a", "-f", "framemd5", "-").CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: ffmpeg: %v: %s", url, err, out)
		}
		// framemd5 lines: stream, dts, pts, duration, size, md5, after
		// "#tb 0: 1/RATE". Anything else ffmpeg printed is an error.
		rate := int64(0)
		first, last := int64(-1), int64(-1)
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "#tb 0: 1/") {
				fmt.Sscanf(line, "#tb 0: 1/%d", &rate)
			}
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			var st int
			var dts, pts int64
			if _, err := fmt.Sscanf(strings.ReplaceAll(line, ",", " "), "%d %d %d", &st, &dts, &pts); err != nil {
				t.Fatalf("%s: ffmpeg said %q", url, line)
			}
			// An AAC frame is 1024 samples (FLV's milliseconds round that
			// by up to 48): frames never overlap, and a lost Opus packet
			// is a gap, never a shift of what follows.
			if last >= 0 && rate == 48000 && dts-last < 1024-48 {
				t.Fatalf("%s: audio dts %d only %d samples after %d", url, dts, dts-last, last)
			}
			if last >= 0 && dts <= last {
				t.Fatalf("%s: audio dts %d after %d", url, dts, last)
			}
			if first < 0 {
				first = dts
			}
			last = dts
		}
		if rate <= 0 || last < 0 {
			t.Fatalf("%s: no audio frames: %s", url, out)
		}
		if span := float64(last-first) / float64(rate); span < 9.5 {
			t.Fatalf("%s: ffmpeg played %.2f s of audio, want 10", url, span)
		}
	}
}

// waitProbe probes url until ffprobe finds both streams (the publish takes
// a moment to reach the hub).
func waitProbe(t *testing.T, ctx context.Context, url string) mediatest.ProbeResult {
	t.Helper()
	for {
		res := mediatest.FFprobe(t, ctx, url)
		if _, ok := res.Stream("audio"); ok {
			return res
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: no audio stream: %+v", url, res)
		case <-time.After(200 * time.Millisecond): // ffprobe gives up on a stream with no audio yet
		}
	}
}

// count is the number of log lines with msg.
func (l *logLines) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if line["msg"] == msg {
			n++
		}
	}
	return n
}

// TestNoCgoServesVideoOnly (issue 15 test 6): a build without cgo builds,
// says at start that audio transcoding is not built, and a WHEP player of
// an RTMP stream gets decodable video and no audio, with the reason on its
// session's log line and in /api/v1/streams.
func TestNoCgoServesVideoOnly(t *testing.T) {
	heavy(t)
	mediatest.RequireFFmpeg(t)
	bin := filepath.Join(t.TempDir(), "streamedge-nocgo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	s, _ := startRTCWith(t, serverOptions{binary: bin}, 2)
	s.logs.wait(t, "rtc audio transcoding is not built: WHEP players of RTMP streams and RTMP players of WHIP streams get video only", nil, 10*time.Second)
	publishFFmpeg(t, s, "v")
	p := rtctest.NewPlayer(t).Play(t, s.rtcURL("/rtc/v1/whep/?app=live&stream=v"))
	line := s.logs.wait(t, "rtc play start", nil, 10*time.Second)
	if line["audio_source"] != "video only: audio transcoding is not built (cgo/libavcodec)" {
		t.Fatalf("play start says audio_source %q", line["audio_source"])
	}
	deadline := time.Now().Add(20 * time.Second)
	var frames, opus [][]byte
	for len(frames) < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("%d frames in 20 s", len(frames))
		}
		select {
		case <-p.Got():
		case <-time.After(time.Second):
		}
		frames, opus = p.Received()
	}
	checkH264(t, "no-cgo player", frames)
	if len(opus) != 0 {
		t.Fatalf("%d audio packets from a build without transcoding", len(opus))
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		st := s.streamRTC(t, "__defaultVhost__/live/v")
		if st != nil && st.RTC != nil && strings.Contains(st.RTC.Audio, "not built") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("API stream: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestEdgeWHEP (issue 15 test 4): WHEP players on both workers of a -w 2
// edge play a stream published over RTMP to a streamedge origin: they get
// video that decodes and Opus with the tone, through one upstream pull
// (the origin sees one connection) and one transcoder on the edge.
func TestEdgeWHEP(t *testing.T) {
	heavy(t)
	requireTranscode(t)
	origin := startServer(t, "", "-w", "2")
	publishFFmpeg(t, origin, "edgertc")
	edge := startServer(t, "rtc:\n  enabled: true\n  udp_port_base: 0\n"+edgeYAML("__defaultVhost__", "round_robin", "rtmp", origin.rtmp), "-w", "2")
	edge.waitWorkers(t, 2, nil)
	ports := edge.rtcPorts(t, 2)
	url := edge.rtcURL("/rtc/v1/whep/?app=live&stream=edgertc")
	seen := playerOnEachWorker(t, url, ports)
	for slot, p := range seen {
		frames, opus := p.AwaitFrames(t, 50)
		name := fmt.Sprintf("edge player on worker %d", slot)
		checkH264(t, name, frames)
		if rms, secs := opusEnergy(t, opus); rms < 0.04 || secs < 0.9 {
			t.Fatalf("%s: %d Opus packets decode to %.2f s with RMS %.4f", name, len(opus), secs, rms)
		}
	}
	if n := originPlays(t, origin, "__defaultVhost__/live/edgertc"); n != 1 {
		t.Fatalf("the origin has %d players of the stream, want 1 (the edge)", n)
	}
	edge.transcoders(t, 1)
	// The rendition is the edge's own: never pulled from the origin.
	var doc struct{ Clients []supervisor.ClientInfo }
	origin.apiGet(t, "/api/v1/clients", &doc)
	for _, c := range doc.Clients {
		if strings.HasSuffix(c.Stream, "@rtc") {
			t.Fatalf("the origin has a client of the rendition: %+v", c)
		}
	}
}

// TestMeasureRTMPToWHEPLatency measures, on loopback, the time from an
// RTMP publisher's send of a picture to a WHEP player's receipt of its
// last packet, p50 and p99, for a player on each worker of -w 2 (one of
// them behind the relay), and the transcoding worker's CPU. It asserts
// only that the pictures arrive: it is a measurement, run by hand with
// STREAMEDGE_MEASURE=1.
func TestMeasureRTMPToWHEPLatency(t *testing.T) {
	if os.Getenv("STREAMEDGE_MEASURE") == "" {
		t.Skip("a measurement: STREAMEDGE_MEASURE=1 runs it")
	}
	requireTranscode(t)
	s, ports := startRTC(t, 2)
	f, err := os.Open(mediatest.FLVFile(t, mediatest.Media{Duration: 20 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tags, err := flv.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := rtmp.Dial(ctx, s.rtmpURL("lat"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		for _, tag := range tags {
			time.Sleep(time.Until(start.Add(time.Duration(tag.Timestamp) * time.Millisecond))) // real-time pacing
			if tag.Type == flv.TagVideo && len(tag.Data) > 5 && tag.Data[1] == 1 {
				mu.Lock()
				sentAt[rtctest.PictureKey(avccNALUs(tag.Data[5:]))] = time.Now()
				mu.Unlock()
			}
			if c.WriteMedia(tag.Type, tag.Timestamp, tag.Data) != nil {
				return
			}
		}
	}()
	url := s.rtcURL("/rtc/v1/whep/?app=live&stream=lat")
	players := map[int]*rtctest.Player{}
	for i := 0; len(players) < 2 && i < 10; i++ {
		p := rtctest.NewPlayer(t).Play(t, url)
		if slot := answerSlot(t, p.Answer, ports); players[slot] == nil {
			players[slot] = p
		}
	}
	<-done
	for slot, p := range players {
		frames, _ := p.Received()
		at := p.Arrivals()
		var lat []time.Duration
		mu.Lock()
		for i, fr := range frames {
			if sent, ok := sentAt[rtctest.PictureKey(rtctest.SplitAnnexB(fr))]; ok && i < len(at) && i > 50 {
				lat = append(lat, at[i].Sub(sent)) // past the GOP cache's burst
			}
		}
		mu.Unlock()
		if len(lat) < 100 {
			t.Fatalf("worker %d: %d frames matched", slot, len(lat))
		}
		slices.Sort(lat)
		t.Logf("worker %d: %d frames, publish->WHEP p50 %v p99 %v", slot, len(lat), lat[len(lat)/2], lat[len(lat)*99/100])
	}
	for _, w := range s.workers(t) {
		if w.Load != nil {
			t.Logf("worker %d: cpu %.1f%% of a core, %d transcoders", w.Slot, w.Load.CPUPercent, w.Load.Transcoders)
		}
	}
}

// avccNALUs splits 4-byte-length-prefixed NAL units, leaving out the
// parameter sets and delimiters as rtctest.PictureKey wants.
func avccNALUs(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 4 {
		n := int(bin.BigEndian.Uint32(b))
		b = b[4:]
		if n > len(b) {
			break
		}
		if typ := b[0] & 0x1f; typ != 7 && typ != 8 && typ != 9 {
			out = append(out, b[:n])
		}
		b = b[n:]
	}
	return out
}

// TestBFramesPassedThroughWithAWarning (issue 15 item 4): an RTMP stream
// with B-frames plays over WHEP as it is (pictures that decode), and the
// worker's log and /api/v1/streams say browsers may stutter and how the
// publisher avoids it.
func TestBFramesPassedThroughWithAWarning(t *testing.T) {
	heavy(t)
	requireTranscode(t)
	file := filepath.Join(t.TempDir(), "bframes.flv")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "6", "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "main",
		"-bf", "2", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	s, _ := startRTC(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mediatest.StartFFmpegPublish(t, ctx, file, s.rtmpURL("bf"), true)
	s.logs.wait(t, "rtmp publish start", nil, 10*time.Second)
	p := rtctest.NewPlayer(t).Play(t, s.rtcURL("/rtc/v1/whep/?app=live&stream=bf"))
	frames, _ := p.AwaitFrames(t, 50)
	checkH264(t, "b-frames player", frames)
	line := s.logs.wait(t, "rtc stream has b-frames", nil, 10*time.Second)
	if advice := fmt.Sprint(line["advice"]); !strings.Contains(advice, "-bf 0") || !strings.Contains(advice, "B-frames 0") {
		t.Fatalf("log advice %q", advice)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.streamRTC(t, "__defaultVhost__/live/bf")
		if st != nil && st.RTC != nil && strings.Contains(st.RTC.Warning, "browsers may stutter") && strings.Contains(st.RTC.Warning, "-bf 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("API stream: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// playerOnEachWorker starts WHEP players of url until one plays from each
// of the two workers (the kernel picks the worker); 10 tries at most.
func playerOnEachWorker(t *testing.T, url string, ports map[int]int) map[int]*rtctest.Player {
	t.Helper()
	seen := map[int]*rtctest.Player{}
	for i := 0; len(seen) < 2; i++ {
		if i == 10 {
			t.Fatalf("10 players and all on workers %v", seen)
		}
		p := rtctest.NewPlayer(t).Play(t, url)
		if slot := answerSlot(t, p.Answer, ports); seen[slot] == nil {
			seen[slot] = p
		}
	}
	return seen
}
