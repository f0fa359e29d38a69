package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"streamedge/ipc"
)

// ErrNoSuchClient: the id names no session of a live worker.
var ErrNoSuchClient = errors.New("no such client")

// clientID is the host-wide name of a session: the worker's pid, then the
// worker's own name for it. The pid, not the slot, because during a rolling
// replacement two workers serve one slot.
func clientID(pid int, local string) string { return strconv.Itoa(pid) + "." + local }

func parseClientID(id string) (pid int, local string, ok bool) {
	p, local, ok := strings.Cut(id, ".")
	if !ok || local == "" {
		return 0, "", false
	}
	pid, err := strconv.Atoi(p)
	return pid, local, err == nil && pid > 0
}

// Kick ends the session id names (DELETE /api/v1/clients/{id}), on
// whichever worker holds it.
func (m *Master) Kick(ctx context.Context, id, reason string) error {
	pid, local, ok := parseClientID(id)
	if !ok {
		return fmt.Errorf("%w: %q is not a client id", ErrNoSuchClient, truncate(id, 64))
	}
	reply := make(chan bool, 1)
	sent := make(chan bool, 1)
	ask := func(m *Master) {
		for _, p := range m.procs {
			if p.pid != pid || (p.state != StateReady && p.state != StateDraining) {
				continue
			}
			m.nextReq++
			if p.proc.Send(&ipc.Kick{ID: m.nextReq, Client: local, Reason: reason}) == nil {
				m.kickReqs[m.nextReq] = reply
				sent <- true
				return
			}
		}
		sent <- false
	}
	select {
	case m.events <- ask:
	case <-ctx.Done():
		return ctx.Err()
	}
	if !<-sent {
		return fmt.Errorf("%w: worker %d is not serving", ErrNoSuchClient, pid)
	}
	select {
	case found := <-reply:
		if !found {
			return fmt.Errorf("%w: %s", ErrNoSuchClient, truncate(id, 64))
		}
		m.log.Info("client kicked", "client", truncate(id, 64), "reason", reason)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onKicked hands a worker's answer to the request waiting for it.
func (m *Master) onKicked(msg *ipc.Kicked) {
	if ch := m.kickReqs[msg.ID]; ch != nil {
		delete(m.kickReqs, msg.ID)
		ch <- msg.Found
	}
}
