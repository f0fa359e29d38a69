// Package httpflv serves live streams from the hub as HTTP-FLV: one endless
// FLV file per request, GET /{app}/{stream}.flv[?vhost=...].
//
// A response is written on the hijacked connection with writev, sharing the
// FLV tag headers the hub encoded once; http.Server.Shutdown does not see
// hijacked connections, so the handler tracks them and Close ends them.
package httpflv

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/media/access"
	"streamedge/media/flv"
	"streamedge/media/hub"
	"streamedge/media/readpoll"
)

// Stats are the handler's running counters.
type Stats struct {
	Players  atomic.Int64
	BytesOut atomic.Uint64
}

// Handler is the HTTP-FLV endpoint.
type Handler struct {
	hub   *hub.Hub
	log   *slog.Logger
	Stats Stats
	gates gates // see SetGate

	mu      sync.Mutex
	players map[*player]struct{}
	idle    chan struct{} // closed when the last player ends; nil until asked for
	closed  bool
	wg      sync.WaitGroup
	poller  *readpoll.Poller // see SetPoller
}

// SetPoller, before the first request, has players wait for their
// client's side in poller, with no goroutine each, instead of in a
// blocked read of their own.
func (h *Handler) SetPoller(poller *readpoll.Poller) { h.poller = poller }

// New returns a handler that plays streams of h.
func New(h *hub.Hub, log *slog.Logger) *Handler {
	return &Handler{hub: h, log: log, players: make(map[*player]struct{})}
}

// ParsePath turns /{app}/{stream}.flv into a stream key; ok is false for
// any other path.
func ParsePath(path, vhost string) (hub.Key, bool) {
	path = strings.TrimPrefix(path, "/")
	app, file, found := cutLast(path, "/")
	name, isFLV := strings.CutSuffix(file, ".flv")
	if !found || !isFLV {
		return hub.Key{}, false
	}
	if vhost == "" {
		vhost = hub.DefaultVhost
	}
	key := hub.Key{Vhost: vhost, App: app, Name: name}
	ok := hub.ValidName(app) && hub.ValidName(name) && hub.ValidName(vhost) && !strings.Contains(vhost, "/")
	return key, ok
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return "", s, false
}

// jsonError answers with a short JSON body, as SRS's API does.
func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "error": msg})
}

// allowedMethods is what a stream URL answers; OPTIONS is a browser's CORS
// preflight (flv.js and mpegts.js send one when a page adds headers).
const allowedMethods = "GET, HEAD, OPTIONS"

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		hdr := w.Header()
		hdr.Set("Allow", allowedMethods)
		hdr.Set("Access-Control-Allow-Origin", "*")
		hdr.Set("Access-Control-Allow-Methods", allowedMethods)
		if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
			hdr.Set("Access-Control-Allow-Headers", "*")
		}
		hdr.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", allowedMethods)
		jsonError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	key, ok := ParsePath(r.URL.Path, r.URL.Query().Get("vhost"))
	if !ok {
		jsonError(w, http.StatusNotFound, "not a stream: use /{app}/{stream}.flv")
		return
	}
	id := strconv.FormatUint(h.gates.ids.Add(1), 10)
	gated, ok := h.authorize(w, r, key, id)
	if !ok {
		return
	}
	if r.Method == http.MethodHead {
		h.head(w, r, key, gated)
		return
	}
	sub, err := h.hub.Subscribe(key, true)
	if errors.Is(err, hub.ErrUpstream) {
		// An edge whose origins failed: the gateway's error, not a 404.
		jsonError(w, http.StatusBadGateway, "stream "+key.App+"/"+key.Name+": "+err.Error())
		return
	}
	if err != nil {
		jsonError(w, http.StatusNotFound, "stream "+key.App+"/"+key.Name+" is not published")
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		sub.Close()
		jsonError(w, http.StatusInternalServerError, "cannot stream on this connection")
		return
	}
	p := &player{h: h, id: id, sub: sub, nc: nc, out: hub.NewOutlet(nc, nil, &h.Stats.BytesOut), addr: r.RemoteAddr, stream: key.String(), since: time.Now(),
		log: h.log.With("client", r.RemoteAddr, "stream", key.String())}
	if !h.track(p) {
		sub.Close()
		nc.Close()
		return
	}
	p.gated = gated
	// The response goes on without the handler: net/http's goroutine ends
	// and lets go of the request and its buffers (8 KiB of bufio for a
	// connection that only ever writes). Bytes a client sent after its
	// request are read from the buffer that holds them.
	var in io.Reader = nc
	if brw.Reader.Buffered() > 0 {
		in = brw.Reader
	}
	go p.serve(in)
}

func (h *Handler) track(p *player) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.players[p] = struct{}{}
	h.wg.Add(1)
	return true
}

func (h *Handler) untrack(p *player) {
	h.mu.Lock()
	delete(h.players, p)
	if len(h.players) == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
	h.mu.Unlock()
	h.wg.Done()
}

// Idle returns a channel closed once no player is left (at once if there
// is none now), so a draining worker can wait for its last one without
// polling.
func (h *Handler) Idle() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.players) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if h.idle == nil {
		h.idle = make(chan struct{})
	}
	return h.idle
}

// Sessions lists the HTTP-FLV players.
func (h *Handler) Sessions() []hub.Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := make([]hub.Session, 0, len(h.players))
	for p := range h.players {
		list = append(list, hub.Session{ID: p.id, Kind: "flv_play", Addr: p.addr, Stream: p.stream, Since: p.since, BytesSent: p.sub.Sent.Load()})
	}
	return list
}

// Close ends every player and waits for them; later requests are refused.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	for p := range h.players {
		p.kill()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// responseHead is written before the FLV header. The body runs until the
// connection closes, which HTTP/1.x allows with Connection: close.
const responseHead = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: video/x-flv\r\n" +
	"Access-Control-Allow-Origin: *\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Connection: close\r\n" +
	"Server: streamedge\r\n\r\n"

// player is one HTTP-FLV response.
type player struct {
	h      *Handler
	id     string
	gated  *access.Request // the play the gate admitted, told when it ends
	sub    *hub.Subscriber
	nc     net.Conn
	addr   string
	stream string
	since  time.Time
	log    *slog.Logger
	vecs   [][]byte // WriteBatch's scratch: a handed-over player's catch-up
	out    *hub.Outlet
	feed   hub.Feed
	wait   readpoll.Handle // with a poller: the session's wait for the client's side
	// scratch holds tag headers of a player handed over from a worker
	// with another timeline of the stream.
	scratch []byte
	// shedding: closed by ShedNewest, or being moved
	shedding atomic.Bool
	ho       handoffSide // see handoff.go
	audio    bool        // the tracks the FLV header announced
	video    bool
	// head is the FLV file header, sent with the first media: its flags
	// must name the stream's real tracks (flv.js and mpegts.js wait for
	// every track it names), which are known only then.
	head     []byte
	headSent bool // or sent by the worker this player was handed over from
}

var _ hub.FanoutWriter = (*player)(nil)

// errClientGone ends a response whose client closed its side.
var errClientGone = errors.New("client closed the connection")

// serve writes the response head and starts the player's session.
func (p *player) serve(in io.Reader) {
	h := p.h
	h.Stats.Players.Add(1)
	h.hub.SetupPlayerConn(p.nc)
	p.sub.WaitForTracks()
	p.sub.MetadataAtZero() // for ffmpeg, which reads it as metadata only at 0
	if err := p.out.Write([][]byte{[]byte(responseHead)}, h.hub.Options().SendTimeout); err != nil {
		p.end(err)
		return
	}
	p.log.Info("flv play start")
	p.run(in)
}

// WriteBatch writes tags as header, body and trailer slices in one writev,
// blocking: for writes outside the stream's writer loop.
func (p *player) WriteBatch(msgs []*hub.Msg) error {
	return hub.WriteNow(p, &p.vecs, msgs, p.h.hub.Options().SendTimeout)
}

// Frame lays tags out as header, body and trailer slices, sharing what the
// hub encoded once; the FLV file header goes first, once.
func (p *player) Frame(vecs [][]byte, msgs []*hub.Msg) ([][]byte, []*hub.Msg) {
	msgs, resumed := p.ho.tail.Admit(p.sub.Stream(), msgs)
	if resumed != nil {
		p.logResumed(resumed)
	}
	if !p.headSent {
		p.headSent = true
		p.audio, p.video = p.sub.Tracks()
		p.head = flv.AppendFileHeader(p.head[:0], p.audio, p.video)
		vecs = append(vecs, p.head)
	}
	p.scratch = p.scratch[:0]
	for _, m := range msgs {
		hdr := m.FLVHeader()
		if p.ho.tail.Shift != 0 {
			hdr = p.ownHeader(m)
		}
		vecs = append(vecs, hdr, m.Payload, m.FLVTrailer())
	}
	return vecs, msgs
}

// Wrote records tags the client got whole.
func (p *player) Wrote(msgs []*hub.Msg) { p.ho.tail.Wrote(msgs) }

// Outlet is the player's socket.
func (p *player) Outlet() *hub.Outlet { return p.out }

// Shared: FLV tags as the hub encoded them, once the file header is out
// and unless the player keeps a timeline of its own.
func (p *player) Shared() (hub.Wire, bool) { return hub.Wire{}, p.headSent && p.ho.tail.Passthrough() }
