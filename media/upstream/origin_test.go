package upstream_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/httpflv"
	"streamedge/media/hub"
	"streamedge/media/rtmp"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// origin is a real RTMP and HTTP-FLV server on loopback ports, with a
// publisher of synthetic media written straight into its hub.
type origin struct {
	rtmpAddr, httpAddr string
	hub                *hub.Hub
	stop               context.CancelFunc
	done               sync.WaitGroup
}

func startOrigin(t *testing.T) *origin {
	t.Helper()
	o := &origin{hub: hub.New(hub.DefaultOptions(), quiet)}
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.rtmpAddr, o.httpAddr = rl.Addr().String(), hl.Addr().String()
	srv := rtmp.NewServer(o.hub, rtmp.Config{ChunkSize: 60000, HandshakeTimeout: 2 * time.Second, MaxMessageSize: 1 << 20}, quiet)
	flvh := httpflv.New(o.hub, quiet)
	hs := &http.Server{Handler: flvh}
	ctx, cancel := context.WithCancel(context.Background())
	o.done.Go(func() { srv.Serve(ctx, rl) })
	o.done.Go(func() { hs.Serve(hl) })
	o.stop = func() {
		cancel()
		hs.Close()
		flvh.Close()
		o.hub.Close()
		o.done.Wait()
	}
	t.Cleanup(o.stop)
	return o
}

var (
	avcSeq   = []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff}
	keyframe = []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 5, 0x65, 1, 2, 3, 4}
	inter    = []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 5, 0x41, 1, 2, 3, 4}
	aacSeq   = []byte{0xaf, 0, 0x12, 0x10}
	audio    = []byte{0xaf, 1, 1, 2, 3}
)

// publish writes a stream into the origin's hub until ctx ends: headers,
// then 25 fps with a keyframe every 10 frames, timestamps from start.
func (o *origin) publish(t *testing.T, ctx context.Context, key hub.Key, start uint32) {
	t.Helper()
	p, err := o.hub.Publish(key)
	if err != nil {
		t.Fatal(err)
	}
	o.done.Go(func() {
		defer p.Close()
		p.Write(flv.TagVideo, start, avcSeq)
		p.Write(flv.TagAudio, start, aacSeq)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i, ts := 0, start; ; i, ts = i+1, ts+40 {
			frame := inter
			if i%10 == 0 {
				frame = keyframe
			}
			if p.Write(flv.TagVideo, ts, frame) != nil || p.Write(flv.TagAudio, ts, audio) != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
}
