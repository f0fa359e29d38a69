package rtmp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/media/connlog"
	"streamedge/media/hub"
	"streamedge/media/readpoll"
)

// Config is what a reload may change; new connections take the new values.
type Config struct {
	ChunkSize        int           // outbound chunk size
	HandshakeTimeout time.Duration // handshake through publish/play; also a silent publisher's limit
	MaxMessageSize   int           // largest inbound message
}

// Stats are the server's running counters, read by the load reports.
type Stats struct {
	Conns      atomic.Int64 // open connections
	Publishers atomic.Int64
	Players    atomic.Int64
	RelayOut   atomic.Int64 // plays on a relay server (see Server.Relay)
	BytesIn    atomic.Uint64
	BytesOut   atomic.Uint64
	// Junk counts connections that ended before they published or played
	// because they never shook hands or never asked for anything.
	Junk connlog.Junk
	// Open counts the open connections by state.
	Open connlog.Open
}

// Server accepts RTMP connections and joins them to a hub.
type Server struct {
	hub       *hub.Hub
	log       *slog.Logger
	cfg       atomic.Pointer[Config]
	admit     atomic.Pointer[func(ConnectInfo) *Refusal] // see SetAdmit
	admitPlay atomic.Pointer[func(PlayInfo) *Refusal]    // see SetAdmitPlay
	gate      atomic.Pointer[Gate]                       // see SetGate
	ids       atomic.Uint64                              // session ids, for hooks and the API
	Stats     Stats
	// Relay, set before Serve, says the clients are relays feeding other
	// hubs (a worker's private socket, which only its host's other workers
	// reach): their plays subscribe as relays, which never pull a stream in
	// turn, count in Stats.RelayOut and are listed as relay_out.
	Relay bool

	poller *readpoll.Poller // see SetPoller

	mu    sync.Mutex
	conns map[*conn]struct{}
	idle  chan struct{} // closed when the last connection ends; nil until asked for
	wg    sync.WaitGroup
}

// NewServer returns a server that publishes to and plays from h.
func NewServer(h *hub.Hub, cfg Config, log *slog.Logger) *Server {
	s := &Server{hub: h, log: log, conns: make(map[*conn]struct{})}
	s.SetConfig(cfg)
	return s
}

// SetPoller, before Serve, has playing sessions wait for their client's
// commands in poller, with no goroutine each, instead of in a blocked read
// of their own.
func (s *Server) SetPoller(poller *readpoll.Poller) { s.poller = poller }

// SetConfig applies a reloaded config to connections accepted from now on.
func (s *Server) SetConfig(cfg Config) { s.cfg.Store(&cfg) }

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection and returns nil once they are all gone. When ln is closed
// first (a draining worker stops accepting), Serve returns nil at once and
// the sessions go on until ctx ends or Close.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	backoff := connlog.AcceptBackoff{Log: s.log, Msg: "rtmp accept failed"}
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.closeAll()
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of fds and the like: wait rather than spin, as net/http does.
			select {
			case <-time.After(backoff.Failed(err)):
			case <-ctx.Done():
			}
			continue
		}
		backoff.Succeeded()
		c := newConn(s, nc, *s.cfg.Load())
		if !s.track(c) {
			nc.Close()
			continue
		}
		go c.serve(ctx, func() { s.untrack(c) })
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.Stats.Conns.Add(1)
	s.Stats.Open.Enter(connlog.Handshaking)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if len(s.conns) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
	s.Stats.Conns.Add(-1)
	s.Stats.Open.Leave(c.state)
	s.wg.Done()
}

// Idle returns a channel closed once the server has no open connection (at
// once if it has none now), so a draining worker can wait for its last
// session without polling.
func (s *Server) Idle() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	return s.idle
}

// Sessions lists the connections that publish or play.
func (s *Server) Sessions() []hub.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []hub.Session
	for c := range s.conns {
		meta := c.session.Load()
		if meta == nil {
			continue
		}
		addr := c.nc.RemoteAddr().String()
		if c.relay {
			addr = "relay"
		}
		ses := hub.Session{ID: c.id, Kind: meta.kind, Addr: addr, Stream: meta.stream, Since: c.since, Upnode: c.upnode}
		if meta.sub != nil {
			ses.BytesSent = meta.sub.Sent.Load()
		}
		if meta.pub != nil {
			ses.BytesIn = meta.pub.Stream().Info().BytesIn
		}
		list = append(list, ses)
	}
	return list
}

// Close ends every connection and waits for them; later accepts are refused.
func (s *Server) Close() { s.closeAll() }

func (s *Server) closeAll() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		c.kill()
	}
	s.wg.Wait()
}
