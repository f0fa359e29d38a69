package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/hub"
	"streamedge/media/transcode"
	"streamedge/media/webrtc"
)

// rtcSocket is the name of the slot's WebRTC UDP socket in the master's table.
const rtcSocket = "rtc"

// rtcServer runs media/webrtc on the slot's UDP socket and puts the
// signalling on the public HTTP server. A session lives on one worker: an
// offer goes to the worker the master picks, and a PATCH or DELETE to the
// worker whose slot its resource URL names, forwarded over that worker's
// private socket when it is not this one.
type rtcServer struct {
	hub  *hub.Hub
	cfg  webrtc.Config
	log  *slog.Logger
	conf atomic.Pointer[configs.Config] // for the vhosts' rtc settings, replaced on reload

	srv      atomic.Pointer[webrtc.Server]
	draining atomic.Bool
	// place asks the master where a request goes (Slot -1: a new session);
	// nil for a worker on its own, which keeps every session.
	place  func(stop <-chan struct{}, slot int) (*ipc.PlaceReply, error)
	lookup func(stop <-chan struct{}, key hub.Key) (*ipc.LookupReply, error)
	self   string // this worker's private socket

	gates    rtcGate       // hooks and signed URLs, asked of offers
	private  *http.Server  // forwarded requests, on the private socket
	incoming chan net.Conn // HTTP connections accepted there
	done     chan struct{}
	wg       sync.WaitGroup
}

func newRTCServer(h *hub.Hub, cfg *configs.Config, log *slog.Logger) *rtcServer {
	every := cfg.RTC.KeyframeInterval.Std()
	if every == 0 {
		every = -1 // never
	}
	r := &rtcServer{hub: h, log: log.With("server", rtcSocket), incoming: make(chan net.Conn), done: make(chan struct{}),
		cfg: webrtc.Config{Candidates: cfg.RTC.Candidates, KeyframeInterval: every}}
	r.cfg.AskKeyframe = r.askKeyframe
	r.conf.Store(cfg)
	r.cfg.Transcode = func(vhost string) (bool, bool) { return r.conf.Load().RTCBridge(vhost) }
	r.cfg.Bridge = r.bridge
	if !transcode.Built() {
		r.log.Warn("rtc audio transcoding is not built: WHEP players of RTMP streams and RTMP players of WHIP streams get video only",
			"reason", transcode.ErrNotBuilt.Error())
	}
	r.private = &http.Server{
		Handler:           r.localHandler(),
		ReadHeaderTimeout: cfg.RTMP.HandshakeTimeout.Std(),
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, privateKey{}, true)
		},
	}
	return r
}

// joinHost gives the server what it needs from the worker's process: its
// slot, its private socket and the master.
func (r *rtcServer) joinHost(slot int, self string, place func(<-chan struct{}, int) (*ipc.PlaceReply, error),
	lookup func(<-chan struct{}, hub.Key) (*ipc.LookupReply, error)) {
	r.cfg.Slot, r.self, r.place, r.lookup = slot, self, place, lookup
}

// pathKeyframe is where another worker's players ask, over the private
// socket, for a keyframe of a stream published here.
const pathKeyframe = "/rtc/v1/keyframe"

// askKeyframe passes a player's keyframe request to the worker that
// publishes key, whose WHIP publisher is the one that can send it.
func (r *rtcServer) askKeyframe(key hub.Key) {
	if r.lookup == nil {
		return
	}
	reply, err := r.lookup(r.done, key)
	if err != nil || !reply.Found || reply.RelayAddr == r.self {
		return
	}
	client := privateClient(reply.RelayAddr, 3*time.Second)
	resp, err := client.Post("http://worker"+pathKeyframe+"?stream="+url.QueryEscape(key.String()), "text/plain", nil)
	if err != nil {
		r.log.Debug("rtc keyframe request not passed on", "stream", key.String(), "err", err)
		return
	}
	resp.Body.Close()
}

// pathBridge is where another worker's WHEP player asks, over the
// private socket, for the WebRTC rendition of a stream published here.
const pathBridge = "/rtc/v1/bridge"

// bridge starts key's WebRTC rendition on the worker that has key: here
// when it is this one (or the master knows no owner: a stream only just
// pulled), else on the owner over its private socket, so the host has one
// transcoder per stream however many workers play it.
func (r *rtcServer) bridge(key hub.Key) error {
	srv := r.srv.Load()
	if srv == nil {
		return webrtc.ErrNoTranscode
	}
	if r.lookup == nil {
		return srv.StartBridge(key)
	}
	reply, err := r.lookup(r.done, key)
	if err != nil || !reply.Found || reply.RelayAddr == r.self {
		return srv.StartBridge(key)
	}
	client := privateClient(reply.RelayAddr, 10*time.Second)
	resp, err := client.Post("http://worker"+pathBridge+"?stream="+url.QueryEscape(key.String()), "text/plain", nil)
	if err != nil {
		return fmt.Errorf("ask the owner for the rendition: %w", err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil
	case http.StatusNotFound:
		return webrtc.ErrNoTranscode
	}
	return fmt.Errorf("the owner answered %s to the rendition request", resp.Status)
}

// notes is what the API says about the WebRTC side of the streams here.
func (r *rtcServer) notes() map[hub.Key]*ipc.StreamRTC {
	srv := r.srv.Load()
	if srv == nil {
		return nil
	}
	notes := map[hub.Key]*ipc.StreamRTC{}
	for key, n := range srv.Notes() {
		notes[key] = &ipc.StreamRTC{Audio: n.Audio, Warning: n.Warning}
	}
	return notes
}

// privateClient talks HTTP to another worker's private socket.
func privateClient(addr string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		},
		DisableKeepAlives: true,
	}}
}

func (r *rtcServer) name() string { return rtcSocket }

// serve runs the WebRTC server on the UDP socket inside ln. A drain closes
// ln: serve returns, and the sessions go on until close.
func (r *rtcServer) serve(ctx context.Context, ln net.Listener) error {
	pl, ok := ln.(*packetListener)
	if !ok {
		return fmt.Errorf("rtc: %T is not a UDP socket", ln)
	}
	srv, err := webrtc.New(r.hub, pl.pc, r.cfg, r.log)
	if err != nil {
		return err
	}
	r.srv.Store(srv)
	r.log.Info("rtc serving", "udp", srv.Addr().String())
	runCtx, stop := context.WithCancel(context.Background())
	r.wg.Go(func() {
		<-r.done
		stop()
	})
	r.wg.Go(func() { srv.Run(runCtx) })
	r.wg.Go(func() { r.private.Serve(&chanListener{conns: r.incoming, done: r.done, addr: pl.pc.LocalAddr()}) })
	select {
	case <-ctx.Done():
	case <-pl.closed:
		r.draining.Store(true)
	}
	return nil
}

func (r *rtcServer) report(l *ipc.Load) {
	srv := r.srv.Load()
	if srv == nil {
		return
	}
	pubs, plays := int(srv.Stats.Publishers.Load()), int(srv.Stats.Players.Load())
	l.Conns[ipc.ConnRTCPublish] += pubs
	l.Conns[ipc.ConnRTCPlay] += plays
	l.Connections += pubs + plays
	l.BytesIn += srv.Stats.BytesIn.Load()
	l.BytesOut += srv.Stats.BytesOut.Load()
	l.Transcoders += int(srv.Stats.Bridges.Load())
}

func (r *rtcServer) sessions() []ipc.Client {
	if srv := r.srv.Load(); srv != nil {
		return clients(r.name(), srv.Sessions())
	}
	return nil
}

func (r *rtcServer) open() int64 {
	if srv := r.srv.Load(); srv != nil {
		return int64(srv.Count())
	}
	return 0
}

func (r *rtcServer) idle() <-chan struct{} {
	if srv := r.srv.Load(); srv != nil {
		return srv.Idle()
	}
	c := make(chan struct{})
	close(c)
	return c
}

func (r *rtcServer) drain() { r.draining.Store(true) }

// close ends every session and closes the socket.
func (r *rtcServer) close() {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	r.private.Close()
	if srv := r.srv.Load(); srv != nil {
		srv.Close()
	}
	r.wg.Wait()
}

// reload announces new candidates to the sessions that start from now on.
// rtc.enabled and the ports change the master's socket table, which gives
// the slots new workers instead.
func (r *rtcServer) reload(cfg *configs.Config) {
	r.conf.Store(cfg)
	srv := r.srv.Load()
	if srv == nil {
		return
	}
	switch changed, err := srv.SetCandidates(cfg.RTC.Candidates); {
	case err != nil:
		r.log.Error("rtc candidates not changed", "err", err)
	case changed:
		r.log.Info("rtc candidates changed", "candidates", cfg.RTC.Candidates)
	}
}

var _ server = (*rtcServer)(nil)

// handler puts WebRTC signalling in front of next on the public HTTP port.
func (r *rtcServer) handler(next http.Handler) http.Handler {
	local := r.localHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		role, isJSON, ok := webrtc.Route(req.URL.Path)
		if !ok {
			next.ServeHTTP(w, req)
			return
		}
		target, offer := -1, role != 0 && req.Method == http.MethodPost
		if offer && !r.admit(w, req, role, isJSON) {
			return
		}
		if !offer {
			slot, isSession := webrtc.SlotOf(strings.TrimPrefix(req.URL.Path, webrtc.PathSession))
			if !isSession || slot == r.cfg.Slot || req.Method == http.MethodOptions {
				local.ServeHTTP(w, req)
				return
			}
			target = slot
		}
		if r.place == nil {
			local.ServeHTTP(w, req)
			return
		}
		reply, err := r.place(req.Context().Done(), target)
		switch {
		case err != nil || !reply.Found:
			if offer && !r.draining.Load() {
				local.ServeHTTP(w, req) // no better place known: serve it here
				return
			}
			http.Error(w, "no worker for this session", statusFor(offer))
		case reply.RelayAddr == r.self:
			local.ServeHTTP(w, req)
		default:
			r.forward(w, req, reply.RelayAddr)
		}
	})
}

func statusFor(offer bool) int {
	if offer {
		return http.StatusServiceUnavailable
	}
	return http.StatusNotFound
}

// localHandler serves signalling on this worker, whatever the placement.
// Requests forwarded by another worker carry the client's address in
// X-Forwarded-For, since their RemoteAddr is the private socket.
func (r *rtcServer) localHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		srv := r.srv.Load()
		if srv == nil {
			http.Error(w, "webrtc is starting", http.StatusServiceUnavailable)
			return
		}
		if isPrivate(req) && req.URL.Path == pathBridge {
			key, ok := hub.ParseKey(req.URL.Query().Get("stream"))
			if !ok {
				http.Error(w, "bad stream name", http.StatusBadRequest)
				return
			}
			switch err := srv.StartBridge(key); {
			case err == nil:
				w.WriteHeader(http.StatusNoContent)
			case errors.Is(err, webrtc.ErrNoTranscode):
				http.Error(w, err.Error(), http.StatusNotFound)
			default:
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
			}
			return
		}
		if isPrivate(req) && req.URL.Path == pathKeyframe {
			key, ok := hub.ParseKey(req.URL.Query().Get("stream"))
			if ok && srv.RequestKeyframe(key) {
				w.WriteHeader(http.StatusNoContent)
			} else {
				http.Error(w, "no WHIP publisher of that stream here", http.StatusNotFound)
			}
			return
		}
		if fwd := req.Header.Get("X-Forwarded-For"); fwd != "" && isPrivate(req) {
			req.RemoteAddr = fwd
		}
		srv.Handler(http.NotFoundHandler()).ServeHTTP(w, req)
	})
}

// privateKey marks, in a request's context, the connections of the
// private socket: only there is X-Forwarded-For believed.
type privateKey struct{}

func isPrivate(req *http.Request) bool {
	private, _ := req.Context().Value(privateKey{}).(bool)
	return private
}

// forward hands a signalling request to the worker listening on addr and
// copies its answer back: the session is that worker's from now on.
func (r *rtcServer) forward(w http.ResponseWriter, req *http.Request, addr string) {
	client := privateClient(addr, 10*time.Second)
	out, err := http.NewRequestWithContext(req.Context(), req.Method, "http://worker"+req.URL.RequestURI(), req.Body)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	out.Header.Set("Content-Type", req.Header.Get("Content-Type"))
	out.Header.Set("X-Forwarded-For", req.RemoteAddr)
	resp, err := client.Do(out)
	if err != nil {
		r.log.Warn("rtc forward failed", "to", addr, "err", err)
		http.Error(w, "the worker owning this session did not answer", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	r.log.Debug("rtc request forwarded", "method", req.Method, "to", addr, "status", resp.StatusCode)
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// sniff splits the private socket between its two protocols: RTMP (other
// workers' relays; the handshake starts with version byte 3) and HTTP (
// signalling forwarded by other workers). The RTMP server gets the
// listener sniff returns.
func (r *rtcServer) sniff(ln net.Listener) net.Listener {
	rtmpConns := make(chan net.Conn)
	s := &chanListener{conns: rtmpConns, done: make(chan struct{}), addr: ln.Addr(), inner: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				s.fail(err)
				return
			}
			go r.route(c, rtmpConns, s.done)
		}
	}()
	return s
}

// sniffTimeout bounds the wait for a private connection's first byte.
const sniffTimeout = 10 * time.Second

func (r *rtcServer) route(c net.Conn, rtmpConns chan<- net.Conn, rtmpDone <-chan struct{}) {
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(sniffTimeout))
	first, err := br.Peek(1)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	pc := &peekedConn{Conn: c, r: br}
	dst, done := rtmpConns, rtmpDone
	if first[0] != 3 {
		dst, done = r.incoming, r.done
	}
	select {
	case dst <- pc:
	case <-done:
		c.Close()
	}
}

// peekedConn is a connection whose first bytes were read ahead.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// chanListener is a listener fed by a channel of connections.
type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
	addr  net.Addr
	inner net.Listener // closed with it, when it wraps one

	once sync.Once
	mu   sync.Mutex
	err  error
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

func (l *chanListener) fail(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
	l.Close()
}

func (l *chanListener) Close() error {
	l.once.Do(func() {
		select {
		case <-l.done:
		default:
			close(l.done)
		}
		if l.inner != nil {
			l.inner.Close()
		}
	})
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// packetListener carries the slot's UDP socket in the worker's table of
// listeners. It accepts nothing; closing it (a drain) only says that no new
// session should start here: the socket stays open for the sessions it
// has, and the WebRTC server closes it at the end.
type packetListener struct {
	pc     net.PacketConn
	closed chan struct{}
	once   sync.Once
}

func adoptPacketConn(f *os.File) (*packetListener, error) {
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, err
	}
	return &packetListener{pc: pc, closed: make(chan struct{})}, nil
}

func (l *packetListener) Accept() (net.Conn, error) {
	<-l.closed
	return nil, net.ErrClosed
}

func (l *packetListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *packetListener) Addr() net.Addr { return l.pc.LocalAddr() }
