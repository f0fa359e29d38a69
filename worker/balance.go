package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/handoff"
	"streamedge/media/httpflv"
	"streamedge/media/hub"
	"streamedge/media/rtmp"
	"streamedge/media/upstream"
	"streamedge/media/webrtc"
)

// Why a new session is refused: the per-worker cap, or the host is full.
const (
	refuseCapped   = "capped"
	refuseHostFull = "host_full"
)

// balancer is the worker's side of the master's balancing: it refuses new
// sessions cleanly at the cap or while the host is full, sheds players at
// the rate the master says, and burns CPU when a test asks.
type balancer struct {
	w   *Worker
	log *slog.Logger

	limits    atomic.Pointer[limits]
	admission atomic.Pointer[ipc.Admission] // nil or Refuse false: admit
	elsewhere atomic.Pointer[elsewhereFunc] // the master's answer, once the IPC link is up

	mu        sync.Mutex
	refusals  map[string]uint64 // "protocol/reason"
	shed      atomic.Uint64     // players closed to shed load
	shedMoved atomic.Uint64     // players moved to shed load
	stopShed  context.CancelCauseFunc
	stopBurn  context.CancelFunc
}

// limits are the settings a reload may change.
type limits struct {
	maxConns   int
	retryAfter time.Duration
	httpPeer   string // host:port of the first peer with HTTP
	rtmpPeer   string
	cluster    bool // hosts.redis is set: a full host sends players to the resolver's choice
}

// elsewhereFunc asks the master which other host of the cluster takes a
// player of stream that this full host refuses.
type elsewhereFunc func(stop <-chan struct{}, stream string) (*ipc.RedirectReply, error)

// balanced is a server whose new sessions the balancer admits and whose
// players it sheds: the public protocols, never the relay socket.
type balanced interface {
	server
	admitWith(b *balancer)
	publicConns() int
	newestPlayer() (since int64, ok bool)
	shedNewest(description string) bool
	players() int
	exporter() handoff.Exporter // nil: its players cannot move
}

func newBalancer(w *Worker, cfg *configs.Config, log *slog.Logger) *balancer {
	b := &balancer{w: w, log: log, refusals: map[string]uint64{}}
	b.configure(cfg)
	for _, s := range b.servers() {
		s.admitWith(b)
	}
	return b
}

func (b *balancer) servers() []balanced {
	var out []balanced
	for _, s := range b.w.servers {
		if bs, ok := s.(balanced); ok && s.name() != relaySocket {
			out = append(out, bs)
		}
	}
	return out
}

func (b *balancer) configure(cfg *configs.Config) {
	l := &limits{maxConns: cfg.Balance.MaxConnections, retryAfter: cfg.Balance.RetryAfter.Std(), cluster: cfg.Hosts.Enabled()}
	for _, p := range cfg.Balance.Redirect {
		if l.httpPeer == "" {
			l.httpPeer = p.HTTP
		}
		if l.rtmpPeer == "" {
			l.rtmpPeer = p.RTMP
		}
	}
	b.limits.Store(l)
}

// publicConns counts the connections the cap applies to: clients (WebRTC
// sessions too), not other workers' relays.
func (b *balancer) publicConns() int {
	n := 0
	for _, s := range b.servers() {
		n += s.publicConns()
	}
	if b.w.rtc != nil {
		n += int(b.w.rtc.open())
	}
	return n
}

// refuse says why a new session of a player (or a publisher) is refused,
// or "". self is 1 when the asking connection is already counted (an RTMP
// connect; an HTTP-FLV request counts once it plays).
func (b *balancer) refuse(publisher bool, self int) (reason, description string) {
	l := b.limits.Load()
	if n := b.publicConns() - self; l.maxConns > 0 && n >= l.maxConns {
		return refuseCapped, fmt.Sprintf("server busy: this worker is at its cap of %d connections", l.maxConns)
	}
	if a := b.admission.Load(); a != nil && a.Refuse && !publisher {
		return refuseHostFull, a.Description
	}
	return "", ""
}

func (b *balancer) count(protocol, reason string) {
	b.mu.Lock()
	b.refusals[protocol+"/"+reason]++
	b.mu.Unlock()
}

// counts puts the refusals and shed players so far in a load report.
func (b *balancer) counts(l *ipc.Load) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.refusals) > 0 {
		l.Refusals = maps.Clone(b.refusals)
	}
	l.Shed, l.ShedMoved = b.shed.Load(), b.shedMoved.Load()
}

// admitHTTP refuses a play over HTTP at once and cleanly: an HTTP-FLV GET
// gets a 302 to the same path on another host (in a cluster, the one the
// resolver picks for the stream; else the first configured peer), a WHEP
// (or SRS API play) offer a 307 to the peer, else either gets 503 with
// Retry-After. A WHIP offer is a publish, admitted like an RTMP one.
func (b *balancer) admitHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason, desc, protocol := "", "", "http_flv"
		switch role, _, rtc := webrtc.Route(r.URL.Path); {
		case rtc && r.Method == http.MethodPost && role != 0:
			protocol = "webrtc"
			reason, desc = b.refuse(role == webrtc.RolePublish, 0)
		case !rtc && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			reason, desc = b.refuse(false, 0)
		}
		if reason == "" {
			next.ServeHTTP(w, r)
			return
		}
		b.count(protocol, reason)
		if to := b.clusterTarget(r.Context().Done(), reason, flvStream(r)); to != nil && to.HTTP != "" {
			b.log.Debug("flv play redirected", "reason", reason, "host", to.Host, "peer", to.HTTP)
			http.Redirect(w, r, "http://"+to.HTTP+r.URL.RequestURI(), http.StatusFound)
			return
		}
		l := b.limits.Load()
		if l.httpPeer != "" {
			b.log.Debug("http play redirected", "protocol", protocol, "reason", reason, "peer", l.httpPeer)
			// 307 for an offer: a 302 would turn its POST into a GET.
			code := http.StatusFound
			if r.Method == http.MethodPost {
				code = http.StatusTemporaryRedirect
			}
			http.Redirect(w, r, "http://"+l.httpPeer+r.URL.RequestURI(), code)
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(l.retryAfter.Round(time.Second).Seconds()))))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"code": http.StatusServiceUnavailable, "error": desc, "reason": reason})
	})
}

// clusterTarget is where, in a cluster, a player of stream that this full
// host refuses goes instead: the host the master's resolver picks, or nil
// to fall back to the configured peer or a plain refusal. Only a full
// host redirects: a worker at its own cap is the host's business, and the
// kernel's steering already sends players past it.
func (b *balancer) clusterTarget(stop <-chan struct{}, reason, stream string) *ipc.RedirectReply {
	ask := b.elsewhere.Load()
	if reason != refuseHostFull || stream == "" || ask == nil || !b.limits.Load().cluster {
		return nil
	}
	reply, err := (*ask)(stop, stream)
	switch {
	case err != nil:
		b.log.Debug("no redirect target from the master", "stream", stream, "err", err)
		return nil
	case reply.Err != "":
		return nil
	}
	return reply
}

// askElsewhere installs how a full host learns where to send players.
func (b *balancer) askElsewhere(f elsewhereFunc) { b.elsewhere.Store(&f) }

// flvStream is the stream an HTTP-FLV play asks for, or "" for another
// request (WHEP, the console) and for an edge's pull, which the cluster
// must not send to an edge (see admitRTMP).
func flvStream(r *http.Request) string {
	if r.UserAgent() == upstream.UserAgent {
		return ""
	}
	key, ok := httpflv.ParsePath(r.URL.Path, r.URL.Query().Get("vhost"))
	if !ok {
		return ""
	}
	return key.String()
}

// admitRTMP is the RTMP server's connect hook. In a cluster a full host
// admits a player's connect and refuses its play (admitRTMPPlay): the
// stream, and so the host to send it to, is known only then. An edge's
// pull is never sent into the cluster: the resolver's choice is an edge
// itself, maybe the one asking.
func (b *balancer) admitRTMP(ci rtmp.ConnectInfo) *rtmp.Refusal {
	reason, desc := b.refuse(ci.Publisher, 1)
	if reason == "" || (reason == refuseHostFull && b.limits.Load().cluster && !ci.Upstream) {
		return nil
	}
	b.count("rtmp", reason)
	r := &rtmp.Refusal{Reason: reason, Description: desc}
	if l := b.limits.Load(); l.rtmpPeer != "" {
		r.Redirect = "rtmp://" + l.rtmpPeer + "/" + ci.App
	}
	return r
}

// admitRTMPPlay is the RTMP server's play hook: while the host is full, a
// cluster's player is refused with the host the resolver picks for its
// stream, named in the description (ffmpeg shows it) and as ex.redirect
// (clients that follow an RTMP 302 go there).
func (b *balancer) admitRTMPPlay(pi rtmp.PlayInfo) *rtmp.Refusal {
	a := b.admission.Load()
	if a == nil || !a.Refuse || !b.limits.Load().cluster || pi.Upstream {
		return nil // an edge admitted at connect: its pull feeds many
	}
	b.count("rtmp", refuseHostFull)
	r := &rtmp.Refusal{Reason: refuseHostFull, Description: a.Description}
	if to := b.clusterTarget(nil, refuseHostFull, pi.Stream.String()); to != nil && to.RTMP != "" {
		q := ""
		if pi.Stream.Vhost != hub.DefaultVhost {
			q = "?vhost=" + url.QueryEscape(pi.Stream.Vhost)
		}
		r.Redirect = "rtmp://" + to.RTMP + "/" + pi.Stream.App + q
		r.Description += "; play it from host " + to.Host + ": rtmp://" + to.RTMP + "/" + pi.Stream.App + "/" + pi.Stream.Name + q
		b.log.Debug("rtmp play redirected", "host", to.Host, "peer", to.RTMP, "stream", pi.Stream.String())
	} else if l := b.limits.Load(); l.rtmpPeer != "" {
		r.Redirect = "rtmp://" + l.rtmpPeer + "/" + pi.Stream.App
	}
	return r
}

// onMessage handles the master's balancing messages.
func (b *balancer) onMessage(ctx context.Context, m ipc.Message) {
	switch m := m.(type) {
	case *ipc.Admission:
		prev := b.admission.Swap(m)
		if prev == nil || prev.Refuse != m.Refuse {
			b.log.Info("admission", "refuse_players", m.Refuse, "reason", m.Reason)
		}
	case *ipc.Shed:
		b.startShed(ctx, m)
	case *ipc.Burn:
		b.startBurn(ctx, m)
	}
}

// startBurn spins for m.Percent of every 10 ms for m.For (m.Percent per
// player it serves, with m.PerPlayer): real CPU the load report sees, for
// the balancer's tests.
func (b *balancer) startBurn(ctx context.Context, m *ipc.Burn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopBurn != nil {
		b.stopBurn()
	}
	ctx, b.stopBurn = context.WithTimeout(ctx, m.For)
	b.log.Warn("burning cpu (fault injection)", "percent", m.Percent, "per_player", m.PerPlayer, "for", m.For.String())
	go func() {
		for ctx.Err() == nil {
			pct := m.Percent
			if m.PerPlayer {
				pct *= b.players()
			}
			busy := time.Duration(min(max(pct, 0), 100)) * 10 * time.Millisecond / 100
			start := time.Now()
			for time.Since(start) < busy {
			}
			select {
			case <-ctx.Done():
			case <-time.After(10*time.Millisecond - busy):
			}
		}
	}()
}

// players counts the players of the public protocols.
func (b *balancer) players() int {
	n := 0
	for _, s := range b.servers() {
		n += s.players()
	}
	return n
}

func (s *rtmpServer) admitWith(b *balancer) {
	s.srv.SetAdmit(b.admitRTMP)
	s.srv.SetAdmitPlay(b.admitRTMPPlay)
}

// publicConns: every connection on the public socket (the relay socket is
// another server).
func (s *rtmpServer) publicConns() int                   { return int(s.srv.Stats.Conns.Load()) }
func (s *rtmpServer) newestPlayer() (int64, bool)        { return s.srv.NewestPlayer() }
func (s *rtmpServer) shedNewest(description string) bool { return s.srv.ShedNewest(description) }
func (s *rtmpServer) players() int                       { return int(s.srv.Stats.Players.Load()) }
func (s *rtmpServer) exporter() handoff.Exporter         { return s.srv }

// admitWith puts the refusal in front of everything HTTP serves to players.
func (s *httpServer) admitWith(b *balancer)              { s.srv.Handler = b.admitHTTP(s.srv.Handler) }
func (s *httpServer) publicConns() int                   { return int(s.flv.Stats.Players.Load()) }
func (s *httpServer) newestPlayer() (int64, bool)        { return s.flv.NewestPlayer() }
func (s *httpServer) shedNewest(description string) bool { return s.flv.ShedNewest(description) }
func (s *httpServer) players() int                       { return int(s.flv.Stats.Players.Load()) }
func (s *httpServer) exporter() handoff.Exporter         { return s.flv }

var (
	_ balanced = (*rtmpServer)(nil)
	_ balanced = (*httpServer)(nil)
)
