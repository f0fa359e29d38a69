package hub

import (
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors the hub returns to the protocol servers, which turn them into
// protocol answers (NetStream.Publish.BadName, HTTP 404, ...).
var (
	ErrStreamBusy   = errors.New("stream is already being published")
	ErrNotPublished = errors.New("stream is not published")
	ErrSlowPlayer   = errors.New("player keeps falling behind the stream")
	ErrClosed       = errors.New("hub is closed")
	ErrStreamEnded  = errors.New("stream ended on a draining worker: reconnect")
	ErrReservedName = errors.New("stream names ending in " + RenditionSuffix + " are reserved for the server's own WebRTC renditions: publish the name without it")
)

// RenditionSuffix ends the name of a stream the server makes from another
// (media/webrtc's WebRTC rendition: "live/cam@rtc" is "live/cam" with Opus
// audio). No client may publish such a name, so players of a rendition
// always get what the server made and a publisher cannot shadow it.
const RenditionSuffix = "@rtc"

// IsRendition reports whether key names a rendition.
func IsRendition(key Key) bool { return strings.HasSuffix(key.Name, RenditionSuffix) }

// Key names a stream: vhost, app and stream name (without query string).
type Key struct {
	Vhost, App, Name string
}

func (k Key) String() string { return k.Vhost + "/" + k.App + "/" + k.Name }

// Options are the play settings a reload can change live.
type Options struct {
	GOPCache          bool
	GOPCacheMaxFrames int
	QueueLength       time.Duration // how far behind a player may fall before a skip
	SendTimeout       time.Duration // how long one write to a player may block
	MaxSkips          int           // skips without catching up before a player is dropped
	MergedWrite       time.Duration // pause after each write to a player, so writes merge (0: none)
	SendBuffer        int           // a player's kernel send buffer in bytes (0: the kernel's autotuning)
}

// DefaultOptions match the embedded default config.
func DefaultOptions() Options {
	return Options{GOPCache: true, GOPCacheMaxFrames: 2500, QueueLength: 30 * time.Second, SendTimeout: 10 * time.Second,
		MaxSkips: 3, MergedWrite: 350 * time.Millisecond, SendBuffer: 1 << 20}
}

// maxWindow caps the messages a stream keeps whatever the timestamps say, so
// a publisher with frozen timestamps cannot grow memory without bound.
const maxWindow = 1 << 15

// Host joins a hub to the other worker processes of the host. A hub
// without one is a whole server on its own. The host bounds its own waits
// and ends them when it stops, so the hub starts no work of its own.
type Host interface {
	// Claim asks to be the host-wide publisher of key; ErrStreamBusy (or
	// another error) when that is refused.
	Claim(key Key) error
	// Release gives a claim back.
	Release(key Key)
	// Pull relays key here when another worker publishes it, and reports
	// whether one does.
	Pull(key Key) bool
	// Want says a player waits for key, which has no publisher here: the
	// host pulls it, now or once it is published elsewhere, without
	// blocking the caller.
	Want(key Key)
	// Published reports whether a worker of the host has key (published,
	// or pulled from an origin), and starts nothing.
	Published(key Key) bool
}

// Hub is the set of streams of one process. It is safe for concurrent use.
type Hub struct {
	log      *slog.Logger
	opts     atomic.Pointer[Options]
	hostLink atomic.Pointer[Host]

	mu       sync.Mutex
	streams  map[Key]*Stream
	closed   bool
	draining bool
}

// Drain prepares the hub for the worker's retirement: from now on a stream
// whose publisher is gone ends its players (they reconnect and land on a
// worker that stays) instead of keeping them waiting for a republish here.
func (h *Hub) Drain() {
	for _, s := range h.list(func() { h.draining = true }) {
		s.endIfUnpublished()
	}
}

// list returns the streams, after running under the hub's lock whatever
// change must happen atomically with taking the list (nil: none).
func (h *Hub) list(underLock func()) []*Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	if underLock != nil {
		underLock()
	}
	list := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		list = append(list, s)
	}
	return list
}

func (h *Hub) isDraining() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.draining
}

// New returns an empty hub.
func New(opts Options, log *slog.Logger) *Hub {
	h := &Hub{log: log, streams: make(map[Key]*Stream)}
	h.SetOptions(opts)
	return h
}

// SetHost joins the hub to the host's other workers.
func (h *Hub) SetHost(host Host) { h.hostLink.Store(&host) }

func (h *Hub) host() Host {
	if p := h.hostLink.Load(); p != nil {
		return *p
	}
	return nil
}

// SetOptions changes the play settings for every stream from now on.
func (h *Hub) SetOptions(opts Options) { h.opts.Store(&opts) }

// Options returns the play settings in force.
func (h *Hub) Options() Options { return *h.opts.Load() }

// stream returns the stream for key, creating it when create is set.
func (h *Hub) stream(key Key, create bool) (*Stream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	s := h.streams[key]
	if s == nil && create {
		s = newStream(h, key)
		h.streams[key] = s
	}
	return s, nil
}

// release forgets s once nobody publishes or plays it.
func (h *Hub) release(s *Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.idle() && h.streams[s.key] == s {
		delete(h.streams, s.key)
	}
}

// Publish makes the caller the publisher of key. It fails with
// ErrStreamBusy while another publisher holds the stream, here or, with a
// Host, anywhere on the host, and with ErrReservedName for a rendition's
// name.
func (h *Hub) Publish(key Key) (*Publisher, error) {
	if IsRendition(key) {
		return nil, ErrReservedName
	}
	return h.publish(key)
}

// PublishRendition makes the server itself the publisher of a rendition,
// as Publish does for a client's stream.
func (h *Hub) PublishRendition(key Key) (*Publisher, error) {
	if !IsRendition(key) {
		return nil, errors.New("hub: " + key.String() + " is not a rendition's name")
	}
	return h.publish(key)
}

func (h *Hub) publish(key Key) (*Publisher, error) {
	s, err := h.stream(key, true)
	if err != nil {
		return nil, err
	}
	p, err := s.publish(false)
	if err != nil {
		return nil, err
	}
	if host := h.host(); host != nil {
		if err := host.Claim(key); err != nil {
			p.Close()
			return nil, err
		}
		p.claimed = true
		if eh, ok := host.(EdgeHost); ok && eh.Upstream(key) {
			// An edge forwards a publish to an origin; the origin's refusal
			// is the publisher's.
			stop, err := eh.Forward(p)
			if err != nil {
				p.Close()
				return nil, err
			}
			p.onClose = stop
		}
	}
	return p, nil
}

// PublishRelay makes a relay the local publisher of key: the stream is
// published on another worker of the host, which holds the claim.
func (h *Hub) PublishRelay(key Key) (*Publisher, error) {
	s, err := h.stream(key, true)
	if err != nil {
		return nil, err
	}
	return s.publish(true)
}

// Subscribe attaches a player to key. With mustBePublished the call fails
// with ErrNotPublished when no publisher is live (HTTP-FLV answers 404);
// otherwise the player waits for one (as RTMP players do).
func (h *Hub) Subscribe(key Key, mustBePublished bool) (*Subscriber, error) {
	return h.subscribe(key, mustBePublished, false)
}

// SubscribeRelay attaches another worker's relay. It never pulls the stream
// from elsewhere itself, so relays cannot chain into loops.
func (h *Hub) SubscribeRelay(key Key) (*Subscriber, error) {
	return h.subscribe(key, false, true)
}

func (h *Hub) subscribe(key Key, mustBePublished, relay bool) (*Subscriber, error) {
	host := h.host()
	if relay {
		host = nil
	}
	if eh, ok := host.(EdgeHost); ok && eh.Upstream(key) {
		return h.subscribeEdge(eh, key)
	}
	if mustBePublished && host != nil && !h.publishing(key) {
		// Published on another worker? Then a relay brings it here.
		mustBePublished = !host.Pull(key)
	}
	s, err := h.stream(key, !mustBePublished)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, ErrNotPublished
	}
	sub, live := s.subscribe(mustBePublished, relay)
	if sub == nil {
		h.release(s)
		return nil, ErrNotPublished
	}
	if !live && host != nil {
		host.Want(key)
	}
	return sub, nil
}

// Published reports whether key has a publisher here or, with a Host,
// anywhere on the host. Unlike Subscribe it starts nothing, no relay and
// no pull from an origin: it answers a HEAD.
func (h *Hub) Published(key Key) bool {
	if h.publishing(key) {
		return true
	}
	host := h.host()
	return host != nil && host.Published(key)
}

// publishing reports whether key has a local publisher (its own or a relay).
func (h *Hub) publishing(key Key) bool {
	h.mu.Lock()
	s := h.streams[key]
	h.mu.Unlock()
	return s != nil && s.Info().Publishing
}

// Streams describes every stream with a publisher or a player, by key.
func (h *Hub) Streams() []StreamInfo {
	list := h.list(nil)
	infos := make([]StreamInfo, 0, len(list))
	for _, s := range list {
		infos = append(infos, s.Info())
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key.String() < infos[j].Key.String() })
	return infos
}

// Close ends every publisher and player: their Run loops and writes return
// ErrClosed. New publishes and plays are refused.
func (h *Hub) Close() {
	for _, s := range h.list(func() { h.closed = true }) {
		s.close()
	}
}

// DefaultVhost is the vhost of a stream whose client named none (SRS's name).
const DefaultVhost = "__defaultVhost__"

// ValidName reports whether s may be an app or stream name: not empty, no
// path tricks, no control characters, a sane length.
func ValidName(s string) bool {
	if s == "" || len(s) > 256 || s == "." || s == ".." {
		return false
	}
	for _, part := range strings.Split(s, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '?' || r == '#' || r == '\\' {
			return false
		}
	}
	return true
}

// ParseKey is the inverse of Key.String: vhost, app (which may have
// slashes), then the stream name.
func ParseKey(s string) (Key, bool) {
	vhost, rest, ok := strings.Cut(s, "/")
	i := strings.LastIndex(rest, "/")
	if !ok || i <= 0 {
		return Key{}, false
	}
	k := Key{Vhost: vhost, App: rest[:i], Name: rest[i+1:]}
	return k, ValidName(k.Vhost) && ValidName(k.App) && ValidName(k.Name)
}

// Session describes one publisher or player connection, for the API.
type Session struct {
	ID        string // the server's name for it, for a kick
	Kind      string // rtmp_publish, rtmp_play, flv_play, relay_out
	Addr      string
	Stream    string
	Since     time.Time
	BytesSent uint64
	BytesIn   uint64
	Upnode    string // the edge that pulls, as its connect said (SRS's debug_srs_upnode)
}
