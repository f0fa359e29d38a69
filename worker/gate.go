package worker

import (
	"os"
	"strconv"

	"streamedge/configs"
	"streamedge/media/access"
)

// accessPolicies turns the vhosts' http_hooks and secure settings into the
// gate's policies.
func accessPolicies(cfg *configs.Config) access.Policies {
	policy := func(vh configs.Vhost) access.Policy {
		h := vh.HTTPHooks
		timeout := h.Timeout.Std()
		if timeout == 0 {
			timeout = configs.DefaultHookTimeout
		}
		return access.Policy{
			Hooks: access.Hooks{OnConnect: h.OnConnect, OnPublish: h.OnPublish, OnUnpublish: h.OnUnpublish,
				OnPlay: h.OnPlay, OnStop: h.OnStop, Timeout: timeout},
			Secure: access.Secure{PublishKey: vh.Secure.PublishKey, PlayKey: vh.Secure.PlayKey},
		}
	}
	p := access.Policies{Default: policy(cfg.Vhosts[configs.DefaultVhost]), Vhosts: map[string]access.Policy{}}
	for name, vh := range cfg.Vhosts {
		if name != configs.DefaultVhost {
			p.Vhosts[name] = policy(vh)
		}
	}
	return p
}

// newAccessGate is the worker's gate: hooks run here, in the worker that
// holds the session, never in the master.
func newAccessGate(cfg *configs.Config, w *Worker) *access.Gate {
	host, _ := os.Hostname()
	return access.New(access.Options{ServerID: host, ServiceID: strconv.Itoa(os.Getpid()),
		Policies: accessPolicies(cfg), Log: w.log})
}

// gated is a server whose sessions go through the access gate.
type gated interface {
	setGate(g *access.Gate)
}

func (s *rtmpServer) setGate(g *access.Gate) {
	if s.socket == relaySocket {
		return // other workers' relays were admitted where their players came in
	}
	if s.traverse != nil {
		s.traverse.next = g
		return
	}
	s.srv.SetGate(g)
}

func (s *httpServer) setGate(g *access.Gate) { s.flv.SetGate(g) }
