package worker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/hub"
	"streamedge/media/rtmp"
)

// relayRig is a worker's hub and relays, an owner worker's relay server
// with a publisher, and the test as the master answering lookups.
type relayRig struct {
	t       *testing.T
	w       *Worker
	link    *hostLink
	owner   *hub.Publisher
	srv     *rtmp.Server // the owner's relay server
	lookups chan *ipc.Lookup
	done    chan error
	cancel  context.CancelFunc
}

var testKey = hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: "s"}

func newRelayRig(t *testing.T) *relayRig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The owner: a hub with the publisher, served on a relay socket.
	ownerHub := hub.New(hub.DefaultOptions(), log)
	t.Cleanup(ownerHub.Close)
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "owner.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := rtmp.NewServer(ownerHub, rtmpConfig(configs.Default()), log)
	srv.Relay = true
	srvCtx, stopSrv := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(srvCtx, ln) }()
	t.Cleanup(func() { stopSrv(); <-srvDone })
	pub, err := ownerHub.Publish(testKey)
	if err != nil {
		t.Fatal(err)
	}
	r := &relayRig{t: t, w: New(configs.Default(), log), owner: pub, srv: srv, lookups: make(chan *ipc.Lookup, 16), done: make(chan error, 1)}
	master, workerEnd, err := ipc.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ipc.FileConn(workerEnd)
	if err != nil {
		t.Fatal(err)
	}
	r.link = newHostLink(conn, r.w, "/self.sock", log)
	r.w.hub.SetHost(r.link)
	t.Cleanup(func() { master.Close(); conn.Close() })
	// The worker's side delivers the master's replies, as its loop does.
	go func() {
		for {
			m, err := conn.Receive()
			if err != nil {
				return
			}
			if rep, ok := m.(*ipc.LookupReply); ok {
				r.link.deliver(rep.ID, rep)
			}
		}
	}()
	// The master knows the owner.
	go func() {
		for {
			m, err := master.Receive()
			if err != nil {
				return
			}
			if l, ok := m.(*ipc.Lookup); ok {
				r.lookups <- l
				master.Send(&ipc.LookupReply{ID: l.ID, Found: true, Owner: 1, RelayAddr: ln.Addr().String()})
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.link.relays.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// feed has the owner publish a keyframe and its header.
func (r *relayRig) feed() {
	r.t.Helper()
	for _, p := range [][]byte{{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0}, {0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65}} {
		if err := r.owner.Write(9, 0, p); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *relayRig) wantLookup(what string) {
	r.t.Helper()
	select {
	case <-r.lookups:
	case <-time.After(5 * time.Second):
		r.t.Fatalf("%s: the worker never asked the master", what)
	}
}

// noLookup checks the relay is not pulled again: no lookup within a few
// retry pauses.
func (r *relayRig) noLookup(what string) {
	r.t.Helper()
	select {
	case <-r.lookups:
		r.t.Fatalf("%s: the relay was pulled again", what)
	case <-time.After(4 * relayRetry):
	}
}

// waitVideo waits for a local player to get video through the relay.
func waitVideo(t *testing.T, sub *hub.Subscriber) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		batch, wake, err := sub.Fetch(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range batch {
			if m.Type == 9 {
				return
			}
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatal("no video reached the local player through the relay")
		}
	}
}

func (r *relayRig) relayed() bool { return r.link.relays.has(testKey) }

func TestRelayPullsForAWaitingPlayerAndStopsWithItsOwner(t *testing.T) {
	r := newRelayRig(t)
	sub, err := r.w.hub.Subscribe(testKey, false) // waits: Want → lookup → relay
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	r.wantLookup("a waiting player")
	r.feed()
	waitVideo(t, sub)
	if !r.relayed() {
		t.Fatal("the relay is not listed as running")
	}
	// The owner's publisher left: the relay ends and is not pulled again.
	r.link.relays.unpublished(testKey)
	r.noLookup("after the owner's unpublish")
	if r.relayed() {
		t.Fatal("the relay still runs after its owner's unpublish")
	}
}

func TestRelayThatBreaksIsPulledAgain(t *testing.T) {
	r := newRelayRig(t)
	sub, err := r.w.hub.Subscribe(testKey, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	r.wantLookup("a waiting player")
	r.feed()
	waitVideo(t, sub)
	// The owner's relay connection dies (its worker is killed, say) while
	// our player still waits: the relay is pulled again.
	r.srv.Close()
	r.wantLookup("a relay that broke")
}

func TestRelayEndedByAClosedHubIsNotPulledAgain(t *testing.T) {
	r := newRelayRig(t)
	sub, err := r.w.hub.Subscribe(testKey, false)
	if err != nil {
		t.Fatal(err)
	}
	r.wantLookup("a waiting player")
	r.feed()
	waitVideo(t, sub)
	r.w.hub.Close()
	r.feed() // the relay's next write meets the closed hub: ErrClosed
	for deadline := time.Now().Add(5 * time.Second); r.relayed(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the relay still runs after the hub closed")
		}
	}
	r.noLookup("after the hub closed")
}

func TestRelaysRunEndsItsRelays(t *testing.T) {
	r := newRelayRig(t)
	sub, err := r.w.hub.Subscribe(testKey, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	r.wantLookup("a waiting player")
	r.feed()
	waitVideo(t, sub)
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end its relays")
	}
	if sub.Stream().Info().Publishing {
		t.Fatal("the relay still publishes after Run ended")
	}
}
