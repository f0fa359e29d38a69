package worker

import (
	"net"
	"net/http"
	"sync"
)

// inflight counts the connections an HTTP server is answering a request
// on (http.StateActive), so a drain waits for one still being answered (a
// 404 after asking the master where a stream is, say) instead of cutting it
// off. A hijacked connection (an HTTP-FLV player) leaves the count: the
// player, or its move to another worker, is the FLV handler's to wait for.
type inflight struct {
	mu     sync.Mutex
	active map[net.Conn]bool
	idle   chan struct{} // closed when active empties
}

// track is the server's ConnState hook.
func (f *inflight) track(c net.Conn, st http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st == http.StateActive {
		if f.active == nil {
			f.active = map[net.Conn]bool{}
		}
		f.active[c] = true
		return
	}
	delete(f.active, c)
	if len(f.active) == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
}

// Idle is closed once no request is being answered.
func (f *inflight) Idle() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.active) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	return f.idle
}
