package supervisor

import (
	"context"
	"sort"
	"time"

	"streamedge/ipc"
)

// ClientInfo is one session on the host, as /api/v1/clients lists it.
type ClientInfo struct {
	ID        string       `json:"id"` // for DELETE /api/v1/clients/{id}
	Worker    int          `json:"worker"`
	PID       int          `json:"pid"`
	Kind      ipc.ConnKind `json:"kind"`
	Addr      string       `json:"addr"`
	Stream    string       `json:"stream"`
	Since     time.Time    `json:"since"`
	BytesSent uint64       `json:"bytes_sent"`
	BytesIn   uint64       `json:"bytes_in"`
	Upnode    string       `json:"upnode,omitempty"` // an edge that pulls: its host and pid
}

// workerClients is one worker's answer to a client list request.
type workerClients struct {
	slot, pid int
	list      *ipc.ClientList
}

// Clients asks every serving worker for its sessions and gathers the
// answers that come before ctx ends. truncated is set when a worker left
// some out, or did not answer in time.
func (m *Master) Clients(ctx context.Context) (clients []ClientInfo, truncated bool, err error) {
	type started struct {
		id uint64
		n  int
		ch chan workerClients
	}
	begun := make(chan started, 1)
	ask := func(m *Master) {
		m.nextReq++
		st := started{id: m.nextReq, ch: make(chan workerClients, len(m.procs))}
		m.clientReqs[st.id] = st.ch
		for _, p := range m.procs {
			if p.state == StateReady || p.state == StateDraining {
				if p.proc.Send(&ipc.ListClients{ID: st.id}) == nil {
					st.n++
				}
			}
		}
		begun <- st
	}
	select {
	case m.events <- ask:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	st := <-begun
	defer func() {
		// Forget the request; a late answer then finds nobody waiting.
		select {
		case m.events <- func(m *Master) { delete(m.clientReqs, st.id) }:
		case <-ctx.Done():
		}
	}()
	for got := 0; got < st.n; got++ {
		select {
		case wc := <-st.ch:
			truncated = truncated || wc.list.Truncated
			for _, c := range wc.list.Clients {
				clients = append(clients, ClientInfo{ID: clientID(wc.pid, c.ID), Worker: wc.slot, PID: wc.pid, Kind: c.Kind, Addr: c.Addr,
					Stream: c.Stream, Since: c.Since, BytesSent: c.BytesSent, BytesIn: c.BytesIn, Upnode: c.Upnode})
			}
		case <-ctx.Done():
			truncated = true
			got = st.n
		}
	}
	sort.Slice(clients, func(i, j int) bool { return clients[i].Since.Before(clients[j].Since) })
	return clients, truncated, nil
}

// onClientList hands a worker's answer to the request waiting for it.
func (m *Master) onClientList(p *workerProc, msg *ipc.ClientList) {
	if ch := m.clientReqs[msg.ID]; ch != nil {
		select {
		case ch <- workerClients{slot: p.slot, pid: p.pid, list: msg}:
		default: // more answers than asked: a worker answered twice
		}
	}
}
