package hub

import (
	"context"
	"net"
	"sync/atomic"
)

// Feed runs a player's writes for the goroutine that owns the player (its
// session's, which reads what the client sends): in the stream's writer
// loop when the loop can write the player, so the player has no goroutine
// of its own, else (relays, connections without a file descriptor) from a
// goroutine running Run. When the writes end on their own (the player fell
// behind for good, a write failed, the stream ended or the hub closed) the
// feed closes the player's socket, which ends the session's read, and Halt
// says why.
type Feed struct {
	// OnDrop, if set, is called after a drop closed the socket: for an
	// owner that waits elsewhere than in a read of it. It must not block.
	OnDrop func()

	nc     net.Conn
	joined bool
	cancel context.CancelFunc
	done   chan struct{}
	err    atomic.Pointer[error]
}

// Start feeds w from sub, after catchUp (nil for none): a handed-over
// player's blocking writes up to where the loop takes over.
func (f *Feed) Start(sub *Subscriber, w FanoutWriter, catchUp func() error) {
	f.nc = w.Outlet().nc
	f.err.Store(nil)
	if catchUp != nil {
		if err := catchUp(); err != nil {
			f.drop(err)
			return
		}
	}
	if f.joined = sub.Join(w, f.drop); f.joined {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		if err := sub.Run(ctx, w); ctx.Err() == nil {
			f.drop(err)
		}
	}()
}

// drop ends the writes for err, once. It must not block: the loop calls it.
func (f *Feed) drop(err error) {
	if f.err.CompareAndSwap(nil, &err) {
		ClosePlayerConn(f.nc, err)
		if f.OnDrop != nil {
			f.OnDrop()
		}
	}
}

// Halt stops the writes between two batches and waits until none is under
// way, so the player's position is exact. It returns why they had ended on
// their own, or nil.
func (f *Feed) Halt(sub *Subscriber) error {
	if f.joined {
		sub.Leave()
		f.joined = false
	} else if f.cancel != nil {
		f.cancel()
		<-f.done
		f.cancel = nil
	}
	if e := f.err.Load(); e != nil {
		return *e
	}
	return nil
}
