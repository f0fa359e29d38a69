package handoff

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Exporter is a protocol server whose players can move.
type Exporter interface {
	ExportPlayer(ctx context.Context) (*Export, error)
}

// AnswerTimeout bounds the wait for a receiver's answer: a receiver
// subscribes (through a relay, if it must) before it answers.
const AnswerTimeout = 5 * time.Second

// Move exports one player of x and hands it to the receiver behind s. On
// nil the receiver owns the socket. Otherwise the player was kept and goes
// on here (Resumable(err)), or was closed because the receiver may have it.
func Move(ctx context.Context, x Exporter, s *Sender, from string) (*State, error) {
	e, err := x.ExportPlayer(ctx)
	if err != nil {
		return nil, err
	}
	e.State.From = from
	b, err := Marshal(e.State)
	if err != nil {
		e.Resume()
		return e.State, fmt.Errorf("%w: %v", ErrNotSent, err)
	}
	err = s.Send(e.File, b, AnswerTimeout)
	switch {
	case err == nil:
		e.Moved()
	case Resumable(err):
		e.Resume()
	default:
		e.Drop()
	}
	return e.State, err
}

// AdoptFunc takes a decoded state: a protocol server's Adopt.
type AdoptFunc func(f *os.File, st *State) error

// Adopters is an Adopter that decodes the state and gives it to the server
// of its protocol; admit, if set, may refuse first (a receiver over its cap).
func Adopters(servers map[Protocol]AdoptFunc, admit func(*State) error) Adopter {
	return func(f *os.File, b []byte) error {
		st, err := Unmarshal(b)
		if err == nil && admit != nil {
			err = admit(st)
		}
		if err != nil {
			f.Close()
			return err
		}
		adopt := servers[st.Protocol]
		if adopt == nil {
			f.Close()
			return fmt.Errorf("no server here adopts %v", st.Protocol)
		}
		return adopt(f, st)
	}
}
