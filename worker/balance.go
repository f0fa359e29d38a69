package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/handoff"
	"streamedge/media/rtmp"
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
}

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
	l := &limits{maxConns: cfg.Balance.MaxConnections, retryAfter: cfg.Balance.RetryAfter.Std()}
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
// or a WHEP (or SRS API play) offer gets a redirect to the same path on a
// peer when one is configured, else 503 with Retry-After. A WHIP offer is
// a publish, admitted like an RTMP one.
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

// admitRTMP is the RTMP server's connect hook.
func (b *balancer) admitRTMP(ci rtmp.ConnectInfo) *rtmp.Refusal {
	reason, desc := b.refuse(ci.Publisher, 1)
	if reason == "" {
		return nil
	}
	b.count("rtmp", reason)
	r := &rtmp.Refusal{Reason: reason, Description: desc}
	if l := b.limits.Load(); l.rtmpPeer != "" {
		r.Redirect = "rtmp://" + l.rtmpPeer + "/" + ci.App
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

func (s *rtmpServer) admitWith(b *balancer) { s.srv.SetAdmit(b.admitRTMP) }

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
