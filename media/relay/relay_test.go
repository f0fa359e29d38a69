package relay_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"streamedge/media/hub"
	"streamedge/media/relay"
	"streamedge/media/rtmp"
)

var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// origin is an RTMP server on its own hub with a publisher the test feeds.
func origin(t *testing.T) (addr string, pub *rtmp.Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.DefaultOptions(), logger)
	srv := rtmp.NewServer(h, rtmp.Config{ChunkSize: 60000, HandshakeTimeout: 2 * time.Second, MaxMessageSize: 1 << 20}, logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		h.Close()
	})
	c, err := rtmp.Dial(ctx, "rtmp://"+ln.Addr().String()+"/live/s")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ln.Addr().String(), c
}

// avc is a keyframe and its sequence header, the smallest a player starts on.
var (
	avcSeq = []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0}
	avcKey = []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65}
)

func feed(t *testing.T, pub *rtmp.Client) {
	t.Helper()
	if err := pub.WriteMedia(9, 0, avcSeq); err != nil {
		t.Fatal(err)
	}
	if err := pub.WriteMedia(9, 0, avcKey); err != nil {
		t.Fatal(err)
	}
}

func run(ctx context.Context, p *relay.Pull) <-chan error {
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return done
}

func waitErr(t *testing.T, done <-chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("the pull did not end within %v", d)
		return nil
	}
}

// firstVideo waits for a player of the local hub to get video.
func firstVideo(t *testing.T, sub *hub.Subscriber) *hub.Msg {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		batch, wake, err := sub.Fetch(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range batch {
			if m.Type == 9 {
				return m
			}
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatal("no media reached the local player")
		}
	}
}

func TestPullBringsTheStreamAndEndsWithItsContext(t *testing.T) {
	addr, pub := origin(t)
	local := hub.New(hub.DefaultOptions(), logger)
	defer local.Close()
	key := hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}
	sub, err := local.Subscribe(key, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx, &relay.Pull{Hub: local, Key: key, Source: relay.RTMP{URL: "rtmp://" + addr + "/live/s"},
		OpenTimeout: 3 * time.Second, Linger: time.Minute, Log: logger})
	feed(t, pub)
	if m := firstVideo(t, sub); !m.SeqHeader {
		t.Fatalf("first video is no sequence header: %+v", m)
	}
	if info := sub.Stream().Info(); !info.Publishing || !info.Relay {
		t.Fatalf("local stream %+v, want published by a relay", info)
	}
	cancel()
	if err := waitErr(t, done, 5*time.Second); err != nil {
		t.Fatalf("a cancelled pull returned %v, want nil", err)
	}
	if sub.Stream().Info().Publishing {
		t.Fatal("the local stream is still published after the pull ended")
	}
}

func TestPullEndsWhenNobodyWatches(t *testing.T) {
	addr, pub := origin(t)
	local := hub.New(hub.DefaultOptions(), logger)
	defer local.Close()
	key := hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}
	sub, err := local.Subscribe(key, false)
	if err != nil {
		t.Fatal(err)
	}
	const linger = 200 * time.Millisecond
	done := run(context.Background(), &relay.Pull{Hub: local, Key: key, Source: relay.RTMP{URL: "rtmp://" + addr + "/live/s"},
		OpenTimeout: 3 * time.Second, Linger: linger, Log: logger})
	// Watch until media comes through the relay, then leave.
	feed(t, pub)
	firstVideo(t, sub)
	left := time.Now()
	sub.Close()
	if err := waitErr(t, done, 5*time.Second); !errors.Is(err, relay.ErrIdle) {
		t.Fatalf("an unwatched pull ended with %v, want ErrIdle", err)
	}
	if time.Since(left) < linger {
		t.Fatal("the pull ended before the linger was over")
	}
}

func TestPullOfAMissingSourceFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody there
	local := hub.New(hub.DefaultOptions(), logger)
	defer local.Close()
	key := hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}
	err = waitErr(t, run(context.Background(), &relay.Pull{Hub: local, Key: key, Source: relay.RTMP{URL: "rtmp://" + addr + "/live/s"},
		OpenTimeout: time.Second, Log: logger}), 5*time.Second)
	if err == nil {
		t.Fatal("a pull from nowhere returned nil")
	}
	if len(local.Streams()) != 0 {
		t.Fatalf("a failed pull left streams %+v", local.Streams())
	}
}
