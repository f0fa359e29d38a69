// Package relay pulls a live stream from a source into the hub: the loop
// behind a worker's relays of streams published on another worker and,
// with another source, an edge's pull from its origin. It knows nothing of
// processes or of who decides what to pull: a Pull is given its source and
// runs until its context ends, the source ends, or nobody watches.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"streamedge/media/hub"
)

// Message is one audio, video or data message read from a source.
type Message struct {
	TypeID    uint8
	Timestamp uint32
	Payload   []byte
}

// Source is where a pull reads its stream from.
type Source interface {
	// Open connects and starts playing the stream; it returns once media
	// may be read, or with an error.
	Open(ctx context.Context) (Reader, error)
	// String names the source in logs.
	String() string
}

// Reader is an opened source.
type Reader interface {
	// ReadMedia returns the next message; an error once the source ends.
	ReadMedia() (Message, error)
	// Close ends the connection; a ReadMedia blocked on it returns.
	Close() error
}

// Why a pull ended, besides its source's own error.
var (
	// ErrIdle ends a pull whose stream had no players for the linger time.
	ErrIdle = errors.New("no players for the linger time")
	// ErrSourceEnded is a source that stopped sending without an error of
	// its own (its publisher left).
	ErrSourceEnded = errors.New("the source stream ended")
)

// Pull brings one stream from Source into Hub as a relay publisher (it
// holds no host-wide claim: the stream belongs to the source).
type Pull struct {
	Hub    *hub.Hub
	Key    hub.Key
	Source Source
	// OpenTimeout bounds connecting and starting to play.
	OpenTimeout time.Duration
	// Linger ends the pull once the stream has had no players this long;
	// 0 pulls until the context ends or the source does.
	Linger time.Duration
	Log    *slog.Logger
}

// Run pulls until ctx ends (nil), nobody watches for Linger (ErrIdle), or
// the source ends (its error, or ErrSourceEnded). It returns once the
// source is closed and the local publisher is gone, so players see the
// stream unpublished and wait for the next publisher.
func (p *Pull) Run(ctx context.Context) error {
	openCtx, cancel := context.WithTimeout(ctx, p.OpenTimeout)
	r, err := p.Source.Open(openCtx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("open %s: %w", p.Source, err)
	}
	defer r.Close()
	pub, err := p.Hub.PublishRelay(p.Key)
	if err != nil {
		return err
	}
	defer pub.Close()
	p.Log.Info("relay start", "stream", p.Key.String(), "from", p.Source.String())

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	done := make(chan struct{})
	defer close(done)
	go func() {
		// Whatever ends the pull closes the reader, which ends ReadMedia.
		select {
		case <-ctx.Done():
		case <-done:
		}
		r.Close()
	}()
	if p.Linger > 0 {
		go p.watchIdle(ctx, pub.Stream(), stop)
	}
	for {
		msg, err := r.ReadMedia()
		if err != nil {
			if cause := context.Cause(ctx); cause != nil {
				if errors.Is(cause, ErrIdle) {
					return ErrIdle
				}
				return nil
			}
			return err
		}
		if err := pub.Write(msg.TypeID, msg.Timestamp, msg.Payload); err != nil {
			return err
		}
	}
}

// watchIdle stops the pull once its stream has had no players for Linger:
// a player that comes during the linger starts it over when it leaves.
func (p *Pull) watchIdle(ctx context.Context, s *hub.Stream, stop context.CancelCauseFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.Emptied():
		}
		t := time.NewTimer(p.Linger)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.Joined():
			t.Stop()
		case <-t.C:
			stop(ErrIdle)
			return
		}
	}
}
