package rtmp

import (
	"net"
	"strings"

	"streamedge/media/access"
	"streamedge/media/hub"
)

// Gate decides who may connect, publish and play (HTTP hooks, signed
// URLs).
type Gate = access.Admitter

// SetGate installs the gate every client session (never a relay from
// another worker) is put to; nil admits everyone.
func (s *Server) SetGate(g Gate) { s.gate.Store(&g) }

func (s *Server) loadGate() Gate {
	if g := s.gate.Load(); g != nil {
		return *g
	}
	return nil
}

// request describes the session to the gate. name is the publish or play
// argument with its query string.
func (c *conn) request(a access.Action, key hub.Key, name string) *access.Request {
	ip, _, err := net.SplitHostPort(c.nc.RemoteAddr().String())
	if err != nil {
		ip = c.nc.RemoteAddr().String()
	}
	r := &access.Request{Action: a, ClientID: c.id, IP: ip, Vhost: c.target.Vhost, App: c.target.App,
		TcURL: c.tcURL, PageURL: c.pageURL}
	if a == access.Connect {
		_, r.Param, _ = strings.Cut(c.tcURL, "?")
		return r
	}
	r.Vhost, r.App, r.Stream = key.Vhost, key.App, key.Name
	_, r.Param, _ = strings.Cut(name, "?")
	return r
}

// authorize asks the gate; it blocks only this session's goroutine, so a
// slow hook server delays no other session.
func (c *conn) authorize(a access.Action, key hub.Key, name string) error {
	g := c.srv.loadGate()
	if g == nil || c.relay {
		return nil
	}
	return g.Admit(c.ctx, c.request(a, key, name))
}

// notifyEnd tells the gate a publish or play ended (on_unpublish, on_stop).
func (c *conn) notifyEnd() {
	g := c.srv.loadGate()
	if g == nil || c.relay || c.gated == nil {
		return
	}
	r := *c.gated
	if r.Action == access.Publish {
		r.Action = access.Unpublish
	} else {
		r.Action = access.Stop
	}
	g.Notify(&r)
}

// deniedText is the description a refused client is told.
func deniedText(err error) string {
	if d, ok := access.IsDenied(err); ok {
		return d.Detail
	}
	return "access denied"
}
