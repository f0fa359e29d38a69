package main

// Media that real publishers send, on one worker and across workers: every
// case puts players on the publisher's worker and, with -w 2, on the other
// one (which plays through a relay), and asserts the same on both.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
)

// tag is one message a test publisher sends.
type tag struct {
	Type uint8
	TS   uint32
	Data []byte
}

func readTags(t *testing.T, path string, keep func(uint8) bool) []tag {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := flv.NewReader(f)
	if _, _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	var tags []tag
	for {
		tg, err := r.ReadTag()
		if err == io.EOF {
			return tags
		}
		if err != nil {
			t.Fatal(err)
		}
		if keep(tg.Type) {
			tags = append(tags, tag{tg.Type, tg.Timestamp, tg.Data})
		}
	}
}

func videoOnly(typ uint8) bool { return typ != flv.TagAudio }
func allTracks(uint8) bool     { return true }

// goPublisher is a Go RTMP publisher whose pace and timestamps the test sets.
type goPublisher struct {
	t *testing.T
	c *rtmp.Client
}

func startGoPublisher(t *testing.T, s *server, stream string) (*goPublisher, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtmp.Dial(ctx, s.rtmpURL(stream))
	if err == nil {
		err = c.Publish(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	local := c.Conn().LocalAddr().String()
	line := s.logs.wait(t, "rtmp publish start", func(l map[string]any) bool { return l["client"] == local }, 10*time.Second)
	w, _ := line["worker"].(float64)
	return &goPublisher{t, c}, int(w)
}

// send writes tags with timestamps shifted by base, speed times faster than
// real time (0: as fast as the socket takes them).
func (p *goPublisher) send(tags []tag, base uint32, speed float64) {
	p.t.Helper()
	start := time.Now()
	first := tags[0].TS
	for _, tg := range tags {
		if speed > 0 {
			due := time.Duration(float64(tg.TS-first) / speed * float64(time.Millisecond))
			if d := due - time.Since(start); d > 0 {
				time.Sleep(d) // pacing a publisher, not synchronising the test
			}
		}
		if err := p.c.WriteMedia(tg.Type, base+tg.TS, tg.Data); err != nil {
			p.t.Fatal(err)
		}
	}
}

// mplayer is one player of either protocol that keeps what it got.
type mplayer struct {
	name   string
	worker int
	rtmp   *rtmp.Client
	nc     net.Conn
	br     *bufio.Reader
	fr     *flv.Reader
	head   []byte // HTTP-FLV: the 9-byte file header
	frames []frame
}

func dialPlayer(ctx context.Context, s *server, stream, proto string) (*mplayer, string, error) {
	if proto == "rtmp" {
		c, err := rtmp.Dial(ctx, s.rtmpURL(stream))
		if err == nil {
			err = c.Play(ctx)
		}
		if err != nil {
			return nil, "", err
		}
		return &mplayer{rtmp: c}, c.Conn().LocalAddr().String(), nil
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", s.http)
	if err != nil {
		return nil, "", err
	}
	fmt.Fprintf(nc, "GET /live/%s.flv HTTP/1.1\r\nHost: %s\r\n\r\n", stream, s.http)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s.flv: %s", stream, resp.Status)
	}
	if err != nil {
		nc.Close()
		return nil, "", err
	}
	return &mplayer{nc: nc, br: br}, nc.LocalAddr().String(), nil
}

func (p *mplayer) next() (frame, error) {
	if p.rtmp != nil {
		m, err := p.rtmp.ReadMedia()
		return frame{m.TypeID, m.Timestamp, m.Payload}, err
	}
	if p.fr == nil {
		p.fr = flv.NewReader(io.TeeReader(p.br, &headSaver{p: p}))
		if _, _, err := p.fr.ReadHeader(); err != nil {
			return frame{}, err
		}
	}
	tg, err := p.fr.ReadTag()
	return frame{tg.Type, tg.Timestamp, tg.Data}, err
}

// headSaver keeps the first bytes of an HTTP-FLV body: the file header.
type headSaver struct{ p *mplayer }

func (h *headSaver) Write(b []byte) (int, error) {
	if n := flv.HeaderSize - len(h.p.head); n > 0 {
		h.p.head = append(h.p.head, b[:min(n, len(b))]...)
	}
	return len(b), nil
}

func (p *mplayer) close() {
	if p.rtmp != nil {
		p.rtmp.Close()
	} else {
		p.nc.Close()
	}
}

// readUntil keeps frames until done says so, failing after d.
func (p *mplayer) readUntil(t *testing.T, d time.Duration, done func(frame) bool) {
	t.Helper()
	conn := p.nc
	if p.rtmp != nil {
		conn = p.rtmp.Conn()
	}
	conn.SetReadDeadline(time.Now().Add(d))
	defer conn.SetReadDeadline(time.Time{})
	for {
		f, err := p.next()
		if err != nil {
			t.Fatalf("%s: after %d frames: %v", p.name, len(p.frames), err)
		}
		f.Data = bytes.Clone(f.Data)
		p.frames = append(p.frames, f)
		if done(f) {
			return
		}
	}
}

// placePlayers connects players of each protocol until there is one on the
// publisher's worker and, with two workers, one on the other (the kernel
// spreads connections; the log says where each landed).
func placePlayers(t *testing.T, s *server, stream string, workers, pubWorker int, protos ...string) []*mplayer {
	t.Helper()
	if len(protos) == 0 {
		protos = []string{"rtmp", "flv"}
	}
	// Until a worker's first load report the balancer steers nothing to
	// it: 100 players in a third of a second all landed on worker 0 once.
	s.waitWorkers(t, workers, nil)
	var players []*mplayer
	for _, proto := range protos {
		have := map[int]bool{}
		for try := 0; len(have) < workers; try++ {
			if try == 100 {
				t.Fatalf("100 %s players and none landed on every worker: %v", proto, have)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			p, local, err := dialPlayer(ctx, s, stream, proto)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			line := s.logs.wait(t, "", func(l map[string]any) bool { return isPlayStart(l) && l["client"] == local }, 10*time.Second)
			w, _ := line["worker"].(float64)
			if have[int(w)] {
				p.close()
				continue
			}
			have[int(w)] = true
			p.worker = int(w)
			where := "the publisher's worker"
			if p.worker != pubWorker {
				where = "the other worker"
			}
			p.name = fmt.Sprintf("%s player on %s (%d)", proto, where, p.worker)
			t.Cleanup(p.close)
			players = append(players, p)
		}
	}
	return players
}

// forWorkers runs a case with one worker and with two, side by side: each
// has a server of its own, and the cases only wait on their clients.
func forWorkers(t *testing.T, f func(t *testing.T, workers int)) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("w%d", n), func(t *testing.T) {
			t.Parallel()
			f(t, n)
		})
	}
}

func isMedia(f frame) bool {
	switch f.Type {
	case flv.TagVideo:
		return !flv.IsVideoSequenceHeader(f.Data)
	case flv.TagAudio:
		return !flv.IsAudioSequenceHeader(f.Data)
	}
	return false
}

// checkWhole says a player got every media message sent, from its first
// one on, in order: nothing skipped.
func checkWhole(t *testing.T, p *mplayer, sent []tag) {
	t.Helper()
	var got []frame
	for _, f := range p.frames {
		if isMedia(f) {
			got = append(got, f)
		}
	}
	if len(got) == 0 {
		t.Fatalf("%s got no media", p.name)
	}
	start := -1
	for i, tg := range sent {
		if tg.Type == got[0].Type && bytes.Equal(tg.Data, got[0].Data) {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("%s started on a frame that was never sent", p.name)
	}
	var want []tag
	for _, tg := range sent[start:] {
		if isMedia(frame{tg.Type, tg.TS, tg.Data}) {
			want = append(want, tg)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s got %d media messages from its start, %d were sent", p.name, len(got), len(want))
	}
	for i := range got {
		if got[i].Type != want[i].Type || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("%s: message %d differs from what was sent", p.name, i)
		}
	}
}

func checkMonotonic(t *testing.T, p *mplayer) {
	t.Helper()
	for i := 1; i < len(p.frames); i++ {
		if a, b := p.frames[i-1].Timestamp, p.frames[i].Timestamp; int32(b-a) < 0 {
			t.Fatalf("%s: time went back from %d to %d at message %d", p.name, a, b, i)
		}
	}
}

// endsWith returns a done func for a tag sent.
func endsWith(last tag) func(frame) bool {
	return func(f frame) bool { return f.Type == last.Type && bytes.Equal(f.Data, last.Data) }
}

// upToLastVideo cuts tags after the last video frame: audio frames of a
// sine repeat, so only a video frame marks a place in a file for sure.
func upToLastVideo(tags []tag) []tag {
	for i := len(tags) - 1; i >= 0; i-- {
		if tags[i].Type == flv.TagVideo {
			return tags[:i+1]
		}
	}
	return tags
}

// A publisher bursting 40x real time: every player gets every message from
// its start keyframe on, in order; none is skipped.
func TestBurstReachesEveryPlayerWhole(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	file := mediatest.FLVFile(t, mediatest.Media{Duration: 30 * time.Second})
	for _, tracks := range []struct {
		name string
		keep func(uint8) bool
	}{{"video", videoOnly}, {"audio+video", allTracks}} {
		t.Run(tracks.name, func(t *testing.T) {
			tags := upToLastVideo(readTags(t, file, tracks.keep))
			forWorkers(t, func(t *testing.T, workers int) {
				s := startServer(t, "", "-w", fmt.Sprint(workers))
				pub, pubWorker := startGoPublisher(t, s, "burst")
				firstGOP := 0
				for firstGOP < len(tags) && tags[firstGOP].TS < 1000 {
					firstGOP++
				}
				pub.send(tags[:firstGOP], 0, 1)
				players := placePlayers(t, s, "burst", workers, pubWorker)
				pub.send(tags[firstGOP:], 0, 40)
				for _, p := range players {
					p.readUntil(t, 30*time.Second, endsWith(tags[len(tags)-1]))
					checkWhole(t, p, tags)
					checkMonotonic(t, p)
				}
			})
		})
	}
}

// Two files back to back on one connection, the second with new sequence
// headers and its clock back at 0: every player gets both headers, each
// before the media it applies to, on one monotonic timeline.
func TestFileSwitchKeepsEverySequenceHeader(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	a := readTags(t, mediatest.FLVFile(t, mediatest.Media{Duration: 4 * time.Second}), allTracks)
	b := readTags(t, mediatest.FLVFile(t, mediatest.Media{Width: 640, Height: 360, Duration: 4 * time.Second}), allTracks)
	// Both files may end on the same tiny frame: end on b's last keyframe.
	var seqA, seqB, keyB []byte
	last := 0
	for i, tg := range b {
		if tg.Type == flv.TagVideo && flv.IsVideoKeyPicture(tg.Data) {
			keyB = cmpOr(keyB, tg.Data)
			last = i
		}
	}
	b = b[:last+1]
	for _, f := range [...]struct {
		tags []tag
		seq  *[]byte
	}{{a, &seqA}, {b, &seqB}} {
		for _, tg := range f.tags {
			if tg.Type == flv.TagVideo && flv.IsVideoSequenceHeader(tg.Data) && *f.seq == nil {
				*f.seq = tg.Data
			}
		}
	}
	forWorkers(t, func(t *testing.T, workers int) {
		s := startServer(t, "", "-w", fmt.Sprint(workers))
		pub, pubWorker := startGoPublisher(t, s, "switch")
		pub.send(a[:len(a)/4], 0, 1)
		players := placePlayers(t, s, "switch", workers, pubWorker)
		pub.send(a[len(a)/4:], 0, 4)
		pub.send(b, 0, 4)
		for _, p := range players {
			p.readUntil(t, 20*time.Second, endsWith(b[len(b)-1]))
			var seqs [][]byte
			seqBAt, next := -1, []byte(nil)
			for i, f := range p.frames {
				switch {
				case f.Type != flv.TagVideo:
				case flv.IsVideoSequenceHeader(f.Data):
					seqs = append(seqs, f.Data)
					if bytes.Equal(f.Data, seqB) {
						seqBAt = i
					}
				case seqBAt >= 0 && next == nil:
					next = f.Data
				}
			}
			if len(seqs) != 2 || !bytes.Equal(seqs[0], seqA) || !bytes.Equal(seqs[1], seqB) {
				t.Fatalf("%s got %d video sequence headers, want the first file's then the second's", p.name, len(seqs))
			}
			if !bytes.Equal(next, keyB) {
				t.Fatalf("%s: the frame after the second file's header is not its first keyframe", p.name)
			}
			checkMonotonic(t, p)
			checkWhole(t, p, append(append([]tag(nil), a...), b...))
		}
	})
}

func cmpOr(a, b []byte) []byte {
	if a != nil {
		return a
	}
	return b
}

func containsTag(tags []tag, f frame) bool {
	for _, tg := range tags {
		if tg.Type == f.Type && bytes.Equal(tg.Data, f.Data) {
			return true
		}
	}
	return false
}

// A real-time publish whose timestamps go back to 0 every 5 s for 30 s:
// no skip, monotonic time, and the players get the source's bitrate.
func TestTimestampResetsCostNothing(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	loop := upToLastVideo(readTags(t, mediatest.FLVFile(t, mediatest.Media{Duration: 5 * time.Second}), allTracks))
	forWorkers(t, func(t *testing.T, workers int) { // 30 s of real time each
		s := startServer(t, "", "-w", fmt.Sprint(workers))
		pub, pubWorker := startGoPublisher(t, s, "resets")
		pub.send(loop[:len(loop)/5], 0, 1)
		players := placePlayers(t, s, "resets", workers, pubWorker)
		pub.send(loop[len(loop)/5:], 0, 1)
		var sent []tag
		sent = append(sent, loop...)
		for range 5 {
			pub.send(loop, 0, 1) // the clock goes back to 0
			sent = append(sent, loop...)
		}
		var srcBytes int
		for _, tg := range loop {
			srcBytes += len(tg.Data)
		}
		srcRate := float64(srcBytes) / float64(loop[len(loop)-1].TS-loop[0].TS)
		for _, p := range players {
			ends, last := 0, endsWith(loop[len(loop)-1])
			p.readUntil(t, 40*time.Second, func(f frame) bool {
				if last(f) {
					ends++
				}
				return ends == 6
			})
			checkWhole(t, p, sent)
			checkMonotonic(t, p)
			var n int
			for _, f := range p.frames {
				n += len(f.Data)
			}
			span := p.frames[len(p.frames)-1].Timestamp - p.frames[0].Timestamp
			if rate := float64(n) / float64(span); rate < 0.9*srcRate {
				t.Fatalf("%s: %.0f bytes per ms of media, the source has %.0f", p.name, rate, srcRate)
			}
		}
	})
}

func describeFrames(fs []frame) string {
	var b strings.Builder
	for _, f := range fs {
		kind := "data"
		switch {
		case f.Type == flv.TagVideo && flv.IsVideoSequenceHeader(f.Data):
			kind = "vseq"
		case f.Type == flv.TagVideo && flv.IsVideoKeyPicture(f.Data):
			kind = "key"
		case f.Type == flv.TagVideo:
			kind = "inter"
		case f.Type == flv.TagAudio && flv.IsAudioSequenceHeader(f.Data):
			kind = "aseq"
		case f.Type == flv.TagAudio:
			kind = "audio"
		}
		fmt.Fprintf(&b, "%s@%d ", kind, f.Timestamp)
	}
	return b.String()
}
