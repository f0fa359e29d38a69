package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"streamedge/ipc"
	"streamedge/media/mediatest"
	"streamedge/media/rtmp"
	"streamedge/supervisor"
)

// edgeYAML is a vhost section that makes the host an edge of origins.
func edgeYAML(vhost, balance, protocol string, origins ...string) string {
	return fmt.Sprintf("vhosts:\n  %s:\n    cluster:\n      mode: remote\n      origin: [%s]\n      balance: %s\n      protocol: %s\n",
		vhost, strings.Join(origins, ", "), balance, protocol)
}

// originPlays counts, from an origin's client list, the players of stream
// that are not its own relays: the edges' upstream connections.
func originPlays(t *testing.T, origin *server, stream string) int {
	t.Helper()
	var doc struct{ Clients []supervisor.ClientInfo }
	origin.apiGet(t, "/api/v1/clients", &doc)
	n := 0
	for _, c := range doc.Clients {
		if c.Stream == stream && (c.Kind == "rtmp_play" || c.Kind == "flv_play") {
			n++
		}
	}
	return n
}

// playAll starts n mixed players of stream on s and has each watch frames
// video frames; it returns their errors, once all are done.
func playAll(s *server, stream string, n, frames int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			src, name, err := playMixed(ctx, s, stream, i)
			if err == nil {
				err = watch(name, src, frames).err
			}
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	wg.Wait()
	return errs
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Test 1: an edge with 4 workers and 100 players makes one upstream
// connection, and every player gets media.
func TestEdgeMergesPlayersIntoOneUpstreamPull(t *testing.T) {
	mediatest.RequireFFmpeg(t)
	origin := startServer(t, "", "-w", "2")
	publishFFmpeg(t, origin, "merged")
	edge := startServer(t, edgeYAML("__defaultVhost__", "round_robin", "rtmp", origin.rtmp), "-w", "4")
	edge.waitWorkers(t, 4, nil)
	const players = 100
	done := make(chan []error, 1)
	go func() { done <- playAll(edge, "merged", players, 75) }()
	// While they play (75 frames is 3 s), the origin sees one player: the edge.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := originPlays(t, origin, "__defaultVhost__/live/merged")
		if n == 1 {
			break
		}
		if n > 1 || time.Now().After(deadline) {
			t.Fatalf("the origin has %d players of the stream, want 1", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Load reports are a second apart: wait for the one that shows the pull.
	up := edge.waitUpstream(t, "__defaultVhost__/live/merged", func(u *ipc.Upstream) bool { return u.State == "live" })
	if up.Origin != origin.rtmp || up.Bytes == 0 {
		t.Fatalf("upstream %+v, want live from %s", up, origin.rtmp)
	}
	if err := firstError(<-done); err != nil {
		t.Fatal(err)
	}
	if n := originPlays(t, origin, "__defaultVhost__/live/merged"); n > 1 {
		t.Fatalf("the origin had %d players of the stream by the end", n)
	}
}

// waitUpstream waits for the edge's API to show stream's upstream as match wants.
func (s *server) waitUpstream(t *testing.T, stream string, match func(*ipc.Upstream) bool) *ipc.Upstream {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var doc struct{ Streams []supervisor.StreamInfo }
		s.apiGet(t, "/api/v1/streams", &doc)
		for _, st := range doc.Streams {
			if st.Stream == stream && st.Upstream != nil && match(st.Upstream) {
				return st.Upstream
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no upstream as wanted for %s: %+v", stream, doc.Streams)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var _ = errors.New
var _ = http.Get
var _ = rtmp.ErrStreamNotFound
