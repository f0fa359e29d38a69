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
// states (net/http's ConnState hook): they are counted while open, waiting
// for a request or idle between two, and one that closes without ever
// sending a request is counted as junk, like an RTMP one that never shook
// hands. A hijacked connection is an HTTP-FLV player, which the handler
// counts.
type httpConns struct {
	Junk connlog.Junk
	Open connlog.Open // handshaking (New, Active) and idle only

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
		if known {
			h.Open.Leave(openState(prev))
		}
	default:
		h.state[nc] = st
		if known {
			h.Open.Move(openState(prev), openState(st))
		} else {
			h.Open.Enter(openState(st))
		}
	}
	h.mu.Unlock()
	if st == http.StateClosed && known && prev == http.StateNew {
		h.Junk.Add(connlog.NoHandshake, nc.RemoteAddr().String(), errNoRequest)
	}
}

// openState is an HTTP state as one of the counted states: a connection
// that waits for or reads a request is handshaking.
func openState(st http.ConnState) connlog.State {
	if st == http.StateIdle {
		return connlog.Idle
	}
	return connlog.Handshaking
}

var errNoRequest = errors.New("closed without a request")

// patientListener retries a failed accept (out of file descriptors and the
// like) with a backoff and says so at warn, as the RTMP server does;
// net/http would retry too, but tell only its ErrorLog, which we keep at
// debug for the per-connection noise it carries. http.Server calls Accept
// from one goroutine.
type patientListener struct {
	net.Listener
	backoff connlog.AcceptBackoff
}

func newPatientListener(ln net.Listener, log *slog.Logger) *patientListener {
	return &patientListener{Listener: ln, backoff: connlog.AcceptBackoff{Log: log, Msg: "http accept failed"}}
}

func (l *patientListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nc, err
		}
		if err == nil {
			l.backoff.Succeeded()
			return nc, nil
		}
		time.Sleep(l.backoff.Failed(err)) // a Close meanwhile shows at the next Accept
	}
}
