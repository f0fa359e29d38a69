package handoff

import "streamedge/media/access"

// HookOf is the Hook of an admitted play (nil when no gate admitted it).
func HookOf(r *access.Request) *Hook {
	if r == nil {
		return nil
	}
	return &Hook{ClientID: r.ClientID, IP: r.IP, Vhost: r.Vhost, App: r.App, Stream: r.Stream, Param: r.Param,
		TcURL: r.TcURL, PageURL: r.PageURL}
}

// Request is the gate's request of an adopted play, for its on_stop.
func (h *Hook) Request() *access.Request {
	if h == nil {
		return nil
	}
	return &access.Request{Action: access.Play, ClientID: h.ClientID, IP: h.IP, Vhost: h.Vhost, App: h.App,
		Stream: h.Stream, Param: h.Param, TcURL: h.TcURL, PageURL: h.PageURL}
}
