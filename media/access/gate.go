package access

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/media/connlog"
)

// Policy is what a vhost asks of its sessions.
type Policy struct {
	Hooks  Hooks
	Secure Secure
}

// Policies maps vhost names to policies; a vhost not listed takes Default.
type Policies struct {
	Default Policy
	Vhosts  map[string]Policy
}

func (p *Policies) of(vhost string) Policy {
	if v, ok := p.Vhosts[vhost]; ok {
		return v
	}
	return p.Default
}

// notifyQueue bounds the fire-and-forget hooks waiting to be sent: past it a
// notification is dropped and counted, so a dead hook server costs memory
// proportional to nothing.
const notifyQueue = 1024

// notifyTries is how often an on_unpublish or on_stop is sent before it is
// given up.
const notifyTries = 3

// Admitter is what a protocol server asks about its sessions: Admit for a
// connect, publish or play, Notify when one ends. *Gate is one; an edge
// chains its own checks in front of it.
type Admitter interface {
	Admit(ctx context.Context, r *Request) error
	Notify(r *Request)
}

var _ Admitter = (*Gate)(nil)

// Gate admits or refuses sessions of one worker.
type Gate struct {
	serverID, serviceID string
	client              *http.Client
	log                 *slog.Logger
	now                 func() time.Time
	policies            atomic.Pointer[Policies]
	notes               chan *Request

	mu       sync.Mutex
	refusals map[string]uint64 // by reason
	dropped  uint64            // notifications the queue had no room for
	logged   limiter
}

// Options configure a Gate. ServerID names this server in hook bodies.
type Options struct {
	ServerID  string
	ServiceID string
	Policies  Policies
	Client    *http.Client // nil: a client of its own
	Log       *slog.Logger
	Now       func() time.Time // nil: time.Now
}

// New returns a gate; its fire-and-forget hooks go out while Run runs.
func New(o Options) *Gate {
	g := &Gate{serverID: o.ServerID, serviceID: o.ServiceID, client: o.Client, log: o.Log, now: o.Now,
		notes: make(chan *Request, notifyQueue), refusals: map[string]uint64{}}
	if g.client == nil {
		g.client = &http.Client{}
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	p := o.Policies
	g.policies.Store(&p)
	return g
}

// SetPolicies swaps in a reloaded configuration; sessions already admitted
// are not asked again.
func (g *Gate) SetPolicies(p Policies) { g.policies.Store(&p) }

// Admit decides a connect, publish or play: the signature first (it costs
// nothing), then every hook of the action in order.
func (g *Gate) Admit(ctx context.Context, r *Request) error {
	pol := g.policies.Load().of(r.Vhost)
	if r.Action == Publish || r.Action == Play {
		if err := pol.Secure.Check(r, g.now()); err != nil {
			return g.refused(r, err)
		}
	}
	timeout := pol.Hooks.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	for _, u := range pol.Hooks.urls(r.Action) {
		if err := g.call(ctx, u, r, timeout); err != nil {
			return g.refused(r, err)
		}
	}
	return nil
}

// Notify queues an on_unpublish or on_stop; it never blocks the session
// that ends.
func (g *Gate) Notify(r *Request) {
	if len(g.policies.Load().of(r.Vhost).Hooks.urls(r.Action)) == 0 {
		return
	}
	select {
	case g.notes <- r:
	default:
		g.mu.Lock()
		g.dropped++
		g.mu.Unlock()
	}
}

// Run sends queued notifications until ctx ends, retrying each a few times.
func (g *Gate) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-g.notes:
			g.send(ctx, r)
		}
	}
}

func (g *Gate) send(ctx context.Context, r *Request) {
	pol := g.policies.Load().of(r.Vhost)
	timeout := max(pol.Hooks.Timeout, time.Second)
	for _, u := range pol.Hooks.urls(r.Action) {
		var err error
		for try := range notifyTries {
			if err = g.call(ctx, u, r, timeout); err == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(try+1) * 500 * time.Millisecond):
			}
		}
		if err != nil && ctx.Err() == nil {
			g.log.Warn("hook notification failed", "action", string(r.Action), "stream", connlog.Clip(r.Stream), "reason", err.Error())
		}
	}
}

// refused counts and logs a refusal, the log bounded per interval.
func (g *Gate) refused(r *Request, err error) error {
	d, ok := IsDenied(err)
	if !ok {
		d = deny(ReasonHookFailed, "%s", err.Error())
	}
	g.mu.Lock()
	g.refusals[d.Reason]++
	show, suppressed := g.logged.allow(g.now())
	g.mu.Unlock()
	if show {
		g.log.Info("session refused", "action", string(r.Action), "client", connlog.Clip(r.IP), "vhost", connlog.Clip(r.Vhost),
			"app", connlog.Clip(r.App), "stream", connlog.Clip(r.Stream), "reason", d.Reason, "detail", d.Detail, "suppressed", suppressed)
	}
	return d
}

// Stats is what the gate counted since it started.
type Stats struct {
	Refusals             map[string]uint64
	NotificationsDropped uint64
}

// Stats returns a copy of the counters.
func (g *Gate) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := Stats{Refusals: make(map[string]uint64, len(g.refusals)), NotificationsDropped: g.dropped}
	for k, v := range g.refusals {
		s.Refusals[k] = v
	}
	return s
}
