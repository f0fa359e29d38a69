package rtmp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/hub"
	"streamedge/media/mediatest"
	"streamedge/media/readpoll"
	"streamedge/media/rtmp"
)

// startServer runs an RTMP server on an ephemeral loopback port.
func startServer(t *testing.T) (string, *hub.Hub) {
	addr, _, h := startServerAndHub(t)
	return addr, h
}

// startServerWith is startServer for tests that set the server's hooks.
func startServerWith(t *testing.T) (string, *rtmp.Server) {
	addr, srv, _ := startServerAndHub(t)
	return addr, srv
}

func startServerAndHub(t *testing.T) (string, *rtmp.Server, *hub.Hub) {
	t.Helper()
	return startServerPolled(t, true)
}

// startServerPolled is startServerAndHub with players waiting in a poller
// (as a worker's do) or in a goroutine each.
func startServerPolled(t *testing.T, poller bool) (string, *rtmp.Server, *hub.Hub) {
	t.Helper()
	var poll *readpoll.Poller
	if poller {
		poll = mediatest.Poller(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := hub.New(hub.DefaultOptions(), log)
	srv := rtmp.NewServer(h, rtmp.Config{ChunkSize: 60000, HandshakeTimeout: 2 * time.Second, MaxMessageSize: 1 << 20}, log)
	if poll != nil {
		srv.SetPoller(poll)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		h.Close()
	})
	return ln.Addr().String(), srv, h
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestFFmpegPublishGoClientPlays(t *testing.T) {
	mediatest.RequireFFmpeg(t)
	addr, _ := startServer(t)
	file := mediatest.FLVFile(t, mediatest.Media{})
	url := "rtmp://" + addr + "/live/s1"
	mediatest.StartFFmpegPublish(t, ctxFor(t, 30*time.Second), file, url, true)

	ctx := ctxFor(t, 10*time.Second)
	var c *rtmp.Client
	for {
		var err error
		c, err = rtmp.Dial(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if err = c.Play(ctx); err != nil {
			t.Fatal(err)
		}
		break
	}
	defer c.Close()
	c.Conn().SetDeadline(time.Now().Add(8 * time.Second))
	var sawVideoSeq, sawAudioSeq, sawKey bool
	var video int
	for video < 30 {
		msg, err := c.ReadMedia()
		if err != nil {
			t.Fatalf("after %d video frames: %v", video, err)
		}
		switch msg.TypeID {
		case flv.TagVideo:
			if flv.IsVideoSequenceHeader(msg.Payload) {
				sawVideoSeq = true
				continue
			}
			if !sawKey && !flv.IsVideoKeyframe(msg.Payload) {
				t.Fatal("first video frame is not a keyframe")
			}
			sawKey = true
			video++
		case flv.TagAudio:
			if flv.IsAudioSequenceHeader(msg.Payload) {
				sawAudioSeq = true
			}
		}
	}
	if !sawVideoSeq || !sawAudioSeq {
		t.Fatalf("sequence headers: video %v audio %v", sawVideoSeq, sawAudioSeq)
	}
	res := mediatest.FFprobe(t, ctxFor(t, 15*time.Second), url)
	if res.Err != nil {
		t.Fatalf("ffprobe: %v\n%s", res.Err, res.Output)
	}
	v, ok := res.Stream("video")
	if !ok || v.CodecName != "h264" || v.Width != 320 || v.Height != 240 {
		t.Fatalf("ffprobe video = %+v", res.Streams)
	}
	if a, ok := res.Stream("audio"); !ok || a.CodecName != "aac" {
		t.Fatalf("ffprobe audio = %+v", res.Streams)
	}
}

func TestSecondPublisherRefused(t *testing.T) {
	addr, _ := startServer(t)
	ctx := ctxFor(t, 5*time.Second)
	url := "rtmp://" + addr + "/live/busy"
	first, err := rtmp.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := first.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	second, err := rtmp.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	err = second.Publish(ctx)
	var st *rtmp.StatusError
	if !errors.As(err, &st) || st.Code != "NetStream.Publish.BadName" {
		t.Fatalf("second publish: %v, want NetStream.Publish.BadName", err)
	}
	// The first publisher is untouched.
	if err := first.WriteMedia(flv.TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
}

func TestGarbageAndIdleConnectionsClosed(t *testing.T) {
	addr, _ := startServer(t)
	garbage, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	garbage.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	for _, c := range []net.Conn{garbage, idle} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("connection not closed by the server: %v", err)
		}
	}
}
