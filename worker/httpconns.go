package worker

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"streamedge/media/connlog"
)

// httpConns follows the public HTTP server's connections through their
// states (net/http's ConnState hook), so a connection that closes without
// ever sending a request is counted as junk, like an RTMP one that never
// shook hands.
type httpConns struct {
	Junk connlog.Junk

	mu    sync.Mutex
	state map[net.Conn]http.ConnState
}

func newHTTPConns() *httpConns {
	return &httpConns{state: make(map[net.Conn]http.ConnState)}
}

// track is the http.Server's ConnState hook.
func (h *httpConns) track(nc net.Conn, st http.ConnState) {
	h.mu.Lock()
	prev, known := h.state[nc]
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(h.state, nc)
	default:
		h.state[nc] = st
	}
	h.mu.Unlock()
	if st == http.StateClosed && known && prev == http.StateNew {
		h.Junk.Add(connlog.NoHandshake, nc.RemoteAddr().String(), errNoRequest)
	}
}

var errNoRequest = errors.New("closed without a request")

// patientListener retries a failed accept (out of file descriptors and the
// like) with a backoff and says so at warn, as the RTMP server does;
// net/http would retry too, but tell only its ErrorLog, which we keep at
// debug for the per-connection noise it carries.
type patientListener struct {
	net.Listener
	log *slog.Logger
}

func (l patientListener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		nc, err := l.Listener.Accept()
		if err == nil || errors.Is(err, net.ErrClosed) {
			return nc, err
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		l.log.Warn("http accept failed", "err", err, "retry_in", backoff)
		time.Sleep(backoff) // a Close meanwhile shows at the next Accept
	}
}
