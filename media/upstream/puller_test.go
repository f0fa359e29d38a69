package upstream_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/hub"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp/amf"
	"streamedge/media/upstream"
)

var key = hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}

// edge is a hub fed by a Puller, with one player attached.
type edge struct {
	hub    *hub.Hub
	puller *upstream.Puller
	msgs   chan *hub.Msg
	done   chan error
	cancel context.CancelFunc
}

// recorder is a player: it hands every message it is written to a channel.
type recorder chan *hub.Msg

func (r recorder) WriteBatch(msgs []*hub.Msg) error {
	for _, m := range msgs {
		r <- m
	}
	return nil
}

func startEdge(t *testing.T, dial upstream.Dialer, timeout time.Duration, origins ...string) *edge {
	t.Helper()
	opts := hub.DefaultOptions()
	opts.MergedWrite = 0
	e := &edge{hub: hub.New(opts, quiet), msgs: make(chan *hub.Msg, 4096), done: make(chan error, 1)}
	sub, err := e.hub.Subscribe(key, false)
	if err != nil {
		t.Fatal(err)
	}
	e.puller = &upstream.Puller{
		Hub:     e.hub,
		Key:     key,
		Target:  upstream.Target{Vhost: key.Vhost, App: key.App, Name: key.Name},
		Origins: origins,
		Dial:    dial,
		Timeout: timeout,
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	playDone := make(chan struct{})
	go func() { defer close(playDone); sub.Run(ctx, recorder(e.msgs)); sub.Close() }()
	go func() { e.done <- e.puller.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-playDone
		e.hub.Close()
	})
	return e
}

// next returns the next message the player got, or fails the test.
func (e *edge) next(t *testing.T, within time.Duration) *hub.Msg {
	t.Helper()
	select {
	case m := <-e.msgs:
		return m
	case err := <-e.done:
		t.Fatalf("pull ended: %v", err)
	case <-time.After(within):
		t.Fatalf("no media for %s", within)
	}
	return nil
}

func (e *edge) result(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-e.done:
		return err
	case <-time.After(within):
		t.Fatalf("pull still running after %s", within)
	}
	return nil
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPullOverRTMPAndFLV(t *testing.T) {
	for _, tc := range []struct {
		name string
		dial upstream.Dialer
		addr func(*origin) string
	}{
		{"rtmp", upstream.RTMP(upstream.Identity("edge-host", 42)), func(o *origin) string { return o.rtmpAddr }},
		{"flv", upstream.FLV(), func(o *origin) string { return o.httpAddr }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := startOrigin(t)
			o.publish(t, ctxFor(t, 20*time.Second), key, 1000)
			e := startEdge(t, tc.dial, 2*time.Second, tc.addr(o))
			var seq, keys, frames int
			for frames < 30 {
				m := e.next(t, 5*time.Second)
				switch {
				case m.SeqHeader:
					seq++
				case m.Keyframe:
					keys++
				}
				if m.Type == flv.TagVideo && !m.SeqHeader {
					if frames == 0 && !m.Keyframe {
						t.Fatal("the first frame is not a keyframe")
					}
					frames++
				}
			}
			if seq < 2 || keys < 2 {
				t.Fatalf("sequence headers %d, keyframes %d in 30 frames", seq, keys)
			}
			if st := e.puller.Stats(); st.Origin != tc.addr(o) || st.Bytes == 0 || st.Failovers != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// The origin in use dies: the player stays attached, gets the other
// origin's media from a keyframe on, and its clock never goes back even
// though the second origin's timestamps start far lower.
func TestFailoverKeepsPlayersAndTime(t *testing.T) {
	a, b := startOrigin(t), startOrigin(t)
	ctx := ctxFor(t, 30*time.Second)
	a.publish(t, ctx, key, 100000)
	b.publish(t, ctx, key, 0)
	const timeout = 2 * time.Second
	e := startEdge(t, upstream.RTMP(nil), timeout, a.rtmpAddr, b.rtmpAddr)
	var last uint32
	for frames := 0; frames < 10; {
		m := e.next(t, 5*time.Second)
		last = max(last, m.Timestamp)
		if m.Type == flv.TagVideo && !m.SeqHeader {
			frames++
		}
	}
	a.stop()
	killed := time.Now()
	// Drain what A sent before it died, then wait for B's first keyframe.
	for {
		m := e.next(t, timeout+5*time.Second)
		if m.Timestamp < last {
			t.Fatalf("timestamp went back from %d to %d", last, m.Timestamp)
		}
		last = m.Timestamp
		if e.puller.Stats().Origin == b.rtmpAddr && m.Keyframe {
			break
		}
	}
	// One GOP is 400 ms here; the connect is immediate.
	if took := time.Since(killed); took > timeout+time.Second {
		t.Errorf("failover took %s", took)
	}
	for frames := 0; frames < 20; {
		m := e.next(t, 5*time.Second)
		if m.Timestamp < last {
			t.Fatalf("after failover, timestamp went back from %d to %d", last, m.Timestamp)
		}
		last = m.Timestamp
		if m.Type == flv.TagVideo {
			frames++
		}
	}
	if st := e.puller.Stats(); st.Failovers != 1 || st.Origin != b.rtmpAddr {
		t.Fatalf("stats %+v, want 1 failover to %s", st, b.rtmpAddr)
	}
}

var notFound = []amf.Property{{Key: "level", Value: "error"}, {Key: "code", Value: "NetStream.Play.StreamNotFound"},
	{Key: "description", Value: "no such stream " + strings.Repeat("x", 5000)}}

func TestNotFoundOnEveryOrigin(t *testing.T) {
	a, _ := mediatest.RTMPStatusServer(t, notFound)
	b, _ := mediatest.RTMPStatusServer(t, notFound)
	o := startOrigin(t) // up, but without the stream: over FLV that is a 404
	e := startEdge(t, upstream.RTMP(nil), 2*time.Second, a, b)
	err := e.result(t, 5*time.Second)
	if !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("pull ended with %v, want ErrNotFound", err)
	}
	if len(err.Error()) > 400 {
		t.Errorf("the origin's text is not bounded: %d bytes", len(err.Error()))
	}
	e2 := startEdge(t, upstream.FLV(), 2*time.Second, o.httpAddr)
	if err := e2.result(t, 5*time.Second); !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("FLV pull ended with %v, want ErrNotFound", err)
	}
}

// An origin that answers with an RTMP 302 (SRS's origin cluster) sends
// the edge to the one that has the stream; the edge says who it is.
func TestRedirectIsFollowed(t *testing.T) {
	o := startOrigin(t)
	o.publish(t, ctxFor(t, 20*time.Second), key, 0)
	redirect := []amf.Property{{Key: "level", Value: "error"}, {Key: "code", Value: "NetConnection.Connect.Rejected"},
		{Key: "description", Value: "RTMP 302 Redirect"},
		{Key: "ex", Value: []amf.Property{{Key: "code", Value: 302.0}, {Key: "redirect", Value: "rtmp://" + o.rtmpAddr + "/live"}}}}
	r, connects := mediatest.RTMPStatusServer(t, redirect)
	e := startEdge(t, upstream.RTMP(upstream.Identity("edge-host", 42)), 2*time.Second, r)
	for frames := 0; frames < 5; {
		if m := e.next(t, 5*time.Second); m.Type == flv.TagVideo {
			frames++
		}
	}
	obj := <-connects
	if obj["srs_server_ip"] != "edge-host" || obj["srs_pid"] != 42.0 {
		t.Fatalf("connect object does not identify the edge: %v", obj)
	}
	if st := e.puller.Stats(); st.Failovers != 0 || st.Origin != r {
		t.Fatalf("stats %+v", st)
	}
}

// Origins that accept and say nothing, or send garbage, end the pull with
// a plain error (not "not found") within the timeouts, and leave nothing
// running behind.
func TestSilentAndGarbageOrigins(t *testing.T) {
	silent := mediatest.SilentServer(t)
	junk := mediatest.GarbageServer(t)
	before := runtime.NumGoroutine()
	for _, dial := range []upstream.Dialer{upstream.RTMP(nil), upstream.FLV()} {
		const timeout = 500 * time.Millisecond
		e := startEdge(t, dial, timeout, silent, junk)
		start := time.Now()
		err := e.result(t, 5*time.Second)
		if err == nil || errors.Is(err, upstream.ErrNotFound) {
			t.Fatalf("pull ended with %v", err)
		}
		if took := time.Since(start); took > 2*timeout+time.Second {
			t.Errorf("two bad origins took %s to give up on", took)
		}
		e.cancel()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+4 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+4 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// nginx-rtmp as the origin: the RTMP source speaks to more than our own server.
func TestPullFromNginxRTMP(t *testing.T) {
	mediatest.RequireFFmpeg(t)
	n := mediatest.StartNginxRTMP(t)
	ctx := ctxFor(t, 60*time.Second)
	mediatest.StartFFmpegPublish(t, ctx, mediatest.FLVFile(t, mediatest.Media{}), "rtmp://"+n.RTMP+"/live/s", true)
	// nginx answers a play of a stream not yet published by waiting, so
	// the pull may start before ffmpeg is in.
	e := startEdge(t, upstream.RTMP(upstream.Identity("edge-host", 1)), 10*time.Second, n.RTMP)
	var keys, frames int
	for frames < 50 {
		m := e.next(t, 15*time.Second)
		if m.Type == flv.TagVideo && !m.SeqHeader {
			frames++
			if m.Keyframe {
				keys++
			}
		}
	}
	if keys == 0 {
		t.Fatal("50 frames from nginx and no keyframe")
	}
}
