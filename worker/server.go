package worker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/connlog"
	"streamedge/media/httpflv"
	"streamedge/media/hub"
	"streamedge/media/players"
	"streamedge/media/rtmp"
)

// server is one protocol server of the worker, serving the socket of its
// name. A new protocol is a type that implements it, in a file of its own,
// and a row of Worker.servers; the master's socket table has the row of
// the same name.
type server interface {
	// name is the socket it serves: the name the master passes it by
	// (ipc.EnvFDs), or relaySocket.
	name() string
	// serve serves ln until ctx ends, then ends its sessions and returns
	// nil once they are gone. When a drain closes ln first, serve returns
	// nil at once and the sessions go on until close.
	serve(ctx context.Context, ln net.Listener) error
	// report adds the server's sessions by kind, its open connections and
	// its bytes in and out to l.
	report(l *ipc.Load)
	// sessions lists the connections that publish or play.
	sessions() []ipc.Client
	// open counts the connections still open, sessions or not, which a
	// drain waits for; idle is closed once there are none (at once if
	// there are none now).
	open() int64
	idle() <-chan struct{}
	// drain stops anything long-lived the server keeps besides sessions
	// (idle keep-alives); the worker closes the listener itself.
	drain()
	// close ends every session and returns once they are gone.
	close()
	// reload applies settings for connections accepted from now on.
	reload(cfg *configs.Config)
	// junk is the counter of connections that ended before they were of
	// any use, and the message of its summary lines; nil for none.
	junk() (msg string, j *connlog.Junk)
}

// relaySocket is the name of the private unix socket other workers relay
// from; the worker opens it itself, the master passes no such socket.
const relaySocket = "relay"

// rtmpServer serves RTMP on a public socket, or on the relay socket: plays
// there are other workers' relays.
type rtmpServer struct {
	socket   string
	srv      *rtmp.Server
	traverse *tokenTraverse // clients' connects to an edge vhost with token_traverse
}

func newRTMPServer(socket string, h *hub.Hub, cfg *configs.Config, log *slog.Logger) *rtmpServer {
	s := &rtmpServer{socket: socket, srv: rtmp.NewServer(h, rtmpConfig(cfg), log.With("server", socket))}
	s.srv.Relay = socket == relaySocket
	if socket != relaySocket {
		s.traverse = newTokenTraverse(cfg)
		s.srv.SetGate(s.traverse)
	}
	return s
}

func rtmpConfig(cfg *configs.Config) rtmp.Config {
	return rtmp.Config{
		ChunkSize:        cfg.RTMP.ChunkSize,
		HandshakeTimeout: cfg.RTMP.HandshakeTimeout.Std(),
		MaxMessageSize:   cfg.RTMP.MaxMessageSize,
	}
}

func (s *rtmpServer) name() string { return s.socket }

func (s *rtmpServer) serve(ctx context.Context, ln net.Listener) error { return s.srv.Serve(ctx, ln) }

func (s *rtmpServer) report(l *ipc.Load) {
	st := &s.srv.Stats
	l.Conns[ipc.ConnRTMPPublish] += int(st.Publishers.Load())
	l.Conns[ipc.ConnRTMPPlay] += int(st.Players.Load())
	l.Conns[ipc.ConnRelayOut] += int(st.RelayOut.Load())
	l.Connections += int(st.Conns.Load())
	l.BytesIn += st.BytesIn.Load()
	l.BytesOut += st.BytesOut.Load()
	addJunk(l, s)
	for _, state := range connlog.States() {
		l.States[state.String()] += st.Open.Count(state)
	}
}

// addJunk adds a server's junk totals to a load report as "socket/reason".
func addJunk(l *ipc.Load, s server) {
	if _, j := s.junk(); j != nil {
		for reason, n := range j.Totals() {
			l.Junk[s.name()+"/"+reason] += n
		}
	}
}

// junk: the relay socket's peers are our own workers, never junk.
func (s *rtmpServer) junk() (string, *connlog.Junk) {
	if s.socket == relaySocket {
		return "", nil
	}
	return s.socket + " connections closed before a session", &s.srv.Stats.Junk
}

func (s *rtmpServer) sessions() []ipc.Client { return clients(s.socket, s.srv.Sessions()) }

func (s *rtmpServer) open() int64 { return s.srv.Stats.Conns.Load() }

func (s *rtmpServer) idle() <-chan struct{} { return s.srv.Idle() }

func (s *rtmpServer) drain() {}

func (s *rtmpServer) close() { s.srv.Close() }

func (s *rtmpServer) reload(cfg *configs.Config) {
	s.srv.SetConfig(rtmpConfig(cfg))
	if s.traverse != nil {
		s.traverse.cfg.Store(cfg)
	}
}

// httpServer serves HTTP: HTTP-FLV, and the mux is where WHIP/WHEP join.
type httpServer struct {
	socket string
	flv    *httpflv.Handler
	srv    *http.Server
	conns  *httpConns
	log    *slog.Logger
	reqs   inflight // connections with a request being answered
}

// maxHeaderBytes bounds a request's header on the public port: players
// send a few hundred bytes (ffmpeg, hls.js/flv.js a little more with a
// browser's cookies); net/http's 1 MB default let a 900 KB header in.
// nginx's large_client_header_buffers is 4 x 8 KiB, of the same order.
const maxHeaderBytes = 16 << 10

func newHTTPServer(socket string, h *hub.Hub, cfg *configs.Config, log *slog.Logger) *httpServer {
	s := &httpServer{socket: socket, flv: httpflv.New(h, log), conns: newHTTPConns(), log: log.With("server", socket)}
	mux := http.NewServeMux()
	mux.Handle("/", s.flv)
	mux.Handle(players.Prefix, players.Handler())
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.RTMP.HandshakeTimeout.Std(),
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s
}

func (s *httpServer) name() string { return s.socket }

// serve returns when ln is closed by a drain, or when close ends the
// server at the end of Worker.Run.
func (s *httpServer) serve(_ context.Context, ln net.Listener) error {
	// Both trackers hear every state change: ours counts connections by
	// state and junk, reqs the requests being answered.
	s.srv.ConnState = func(nc net.Conn, st http.ConnState) {
		s.conns.track(nc, st)
		s.reqs.track(nc, st)
	}
	err := s.srv.Serve(newPatientListener(ln, s.log))
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		// A closed listener is a drain, not a failure: sessions go on.
		return nil
	}
	return err
}

func (s *httpServer) report(l *ipc.Load) {
	n := int(s.flv.Stats.Players.Load())
	l.Conns[ipc.ConnFLVPlay] += n
	// Connections waiting for a request or idle between two count too:
	// 15,000 of them are load, not nothing.
	waiting, idle := s.conns.Open.Count(connlog.Handshaking), s.conns.Open.Count(connlog.Idle)
	l.Connections += n + waiting + idle
	l.States[connlog.Handshaking.String()] += waiting
	l.States[connlog.Idle.String()] += idle
	l.States[connlog.Playing.String()] += n
	l.BytesOut += s.flv.Stats.BytesOut.Load()
	addJunk(l, s)
}

func (s *httpServer) junk() (string, *connlog.Junk) {
	return s.socket + " connections closed before a request", &s.conns.Junk
}

func (s *httpServer) sessions() []ipc.Client { return clients(s.socket, s.flv.Sessions()) }

func (s *httpServer) open() int64 { return s.flv.Stats.Players.Load() }

// idle waits for the players, then for any request still being answered.
func (s *httpServer) idle() <-chan struct{} {
	select {
	case <-s.flv.Idle():
		return s.reqs.Idle()
	default:
		return s.flv.Idle()
	}
}

func (s *httpServer) drain() { s.srv.SetKeepAlivesEnabled(false) }

// close ends the HTTP connections, and the HTTP-FLV players, which
// http.Server does not see once hijacked.
func (s *httpServer) close() {
	s.srv.Close()
	s.flv.Close()
}

func (s *httpServer) reload(*configs.Config) {}

// clients turns the media servers' sessions into the IPC's.
func clients(socket string, list []hub.Session) []ipc.Client {
	out := make([]ipc.Client, 0, len(list))
	for _, ses := range list {
		out = append(out, ipc.Client{ID: clientID(socket, ses.ID), Kind: ipc.ConnKind(ses.Kind), Addr: ses.Addr, Stream: ses.Stream,
			Since: ses.Since, BytesSent: ses.BytesSent, BytesIn: ses.BytesIn, Upnode: ses.Upnode})
	}
	return out
}

var (
	_ server = (*rtmpServer)(nil)
	_ server = (*httpServer)(nil)
)
