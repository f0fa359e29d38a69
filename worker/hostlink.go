package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"streamedge/ipc"
	"streamedge/media/hub"
)

// errQuit ends a worker the master told to quit.
var errQuit = errors.New("master said quit")

// hostLink is the worker's side of the IPC: it answers the hub's questions
// about the host (claims, lookups) by asking the master, and turns the
// master's news into relays.
type hostLink struct {
	conn *ipc.Conn
	w    *Worker
	slot int
	// self is our relay socket: it tells our own streams from those of
	// another worker, even one that shares our slot while it drains.
	self   string
	log    *slog.Logger
	relays *relays

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan ipc.Message
}

var _ hub.Host = (*hostLink)(nil)

func newHostLink(conn *ipc.Conn, w *Worker, relayAddr string, log *slog.Logger) *hostLink {
	l := &hostLink{conn: conn, w: w, self: relayAddr, log: log, pending: make(map[uint64]chan ipc.Message)}
	l.relays = newRelays(w.hub, l, log)
	return l
}

// call sends a request made with id and waits for the reply with that id.
func (l *hostLink) call(ctx context.Context, build func(id uint64) ipc.Message) (ipc.Message, error) {
	l.mu.Lock()
	l.nextID++
	id := l.nextID
	ch := make(chan ipc.Message, 1)
	l.pending[id] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.pending, id)
		l.mu.Unlock()
	}()
	if err := l.conn.Send(build(id)); err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		return m, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer from the master: %w", ctx.Err())
	}
}

func (l *hostLink) deliver(id uint64, m ipc.Message) {
	l.mu.Lock()
	ch := l.pending[id]
	l.mu.Unlock()
	if ch != nil {
		ch <- m
	}
}

// Claim asks the master for the host-wide right to publish key.
func (l *hostLink) Claim(ctx context.Context, key hub.Key) error {
	m, err := l.call(ctx, func(id uint64) ipc.Message { return &ipc.Claim{ID: id, Stream: key.String()} })
	if err != nil {
		return err
	}
	reply := m.(*ipc.ClaimReply)
	if !reply.OK {
		return fmt.Errorf("%w on worker %d", hub.ErrStreamBusy, reply.Owner)
	}
	return nil
}

// Release tells the master our publisher of key left.
func (l *hostLink) Release(key hub.Key) {
	if err := l.conn.Send(&ipc.Release{Stream: key.String()}); err != nil {
		l.log.Warn("release not sent", "stream", key.String(), "err", err)
	}
}

// Pull relays key from its owner, if another worker owns it.
func (l *hostLink) Pull(ctx context.Context, key hub.Key) bool {
	return l.relays.pull(ctx, key)
}

func (l *hostLink) lookup(ctx context.Context, key hub.Key) (*ipc.LookupReply, error) {
	m, err := l.call(ctx, func(id uint64) ipc.Message { return &ipc.Lookup{ID: id, Stream: key.String()} })
	if err != nil {
		return nil, err
	}
	return m.(*ipc.LookupReply), nil
}

// commands are what the worker does when the master asks.
type commands struct {
	reload     func(*ipc.Configure)
	reopenLogs func()
	drain      func()
	balance    func(ipc.Message) // admission, shed, burn
}

// receive handles the master's messages until the connection ends. EOF
// means the master is gone: the worker must not outlive it.
func (l *hostLink) receive(ctx context.Context, cmds commands) error {
	for {
		m, err := l.conn.Receive()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("master connection: %w", err)
		}
		switch m := m.(type) {
		case *ipc.ClaimReply:
			l.deliver(m.ID, m)
		case *ipc.LookupReply:
			l.deliver(m.ID, m)
		case *ipc.StreamPublished:
			if key, ok := hub.ParseKey(m.Stream); ok && m.RelayAddr != l.self {
				l.relays.published(key, m.RelayAddr)
			}
		case *ipc.StreamUnpublished:
			if key, ok := hub.ParseKey(m.Stream); ok {
				l.relays.unpublished(key)
			}
		case *ipc.Configure:
			cmds.reload(m)
		case *ipc.ListClients:
			if err := l.conn.Send(l.w.clientList(m.ID)); err != nil {
				l.log.Warn("client list not sent", "err", err)
			}
		case *ipc.Admission, *ipc.Shed, *ipc.Burn:
			cmds.balance(m)
		case *ipc.Command:
			switch m.Name {
			case ipc.CmdQuit:
				return errQuit
			case ipc.CmdReopenLogs:
				cmds.reopenLogs()
			case ipc.CmdDrain:
				cmds.drain()
			default:
				l.log.Warn("unknown command from master", "command", m.Name)
			}
		default:
			l.log.Warn("unexpected message from master", "kind", m.Kind().String())
		}
	}
}
