package httpflv

import (
	"net"
	"net/http"
	"sync/atomic"

	"streamedge/media/access"
	"streamedge/media/hub"
)

// Gate decides who may connect, publish and play (HTTP hooks, signed
// URLs).
type Gate = access.Admitter

// gates holds the handler's gate and session ids apart from Handler, so
// the hot path's fields stay as they are.
type gates struct {
	gate atomic.Pointer[Gate]
	ids  atomic.Uint64
}

// SetGate installs the gate every play is put to; nil admits everyone.
func (h *Handler) SetGate(g Gate) { h.gates.gate.Store(&g) }

func (h *Handler) loadGate() Gate {
	if g := h.gates.gate.Load(); g != nil {
		return *g
	}
	return nil
}

// playRequest describes a play to the gate.
func (h *Handler) playRequest(r *http.Request, key hub.Key, id string) *access.Request {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &access.Request{Action: access.Play, ClientID: id, IP: ip,
		Vhost: key.Vhost, App: key.App, Stream: key.Name, Param: r.URL.RawQuery,
		TcURL: scheme + "://" + r.Host + "/" + key.App, PageURL: r.Referer()}
}

// authorize asks the gate and answers a refusal: 403 for a hook's no or a
// bad signature, 401 for a URL that carries none.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, key hub.Key, id string) (*access.Request, bool) {
	g := h.loadGate()
	if g == nil {
		return nil, true
	}
	req := h.playRequest(r, key, id)
	err := g.Admit(r.Context(), req)
	if err == nil {
		return req, true
	}
	code := http.StatusForbidden
	d, ok := access.IsDenied(err)
	if ok && d.Reason == access.ReasonUnsigned {
		code = http.StatusUnauthorized
	}
	if ok && d.Reason == access.ReasonHookFailed {
		code = http.StatusServiceUnavailable
	}
	msg := "access denied"
	if ok {
		msg = d.Detail
	}
	jsonError(w, code, msg)
	return nil, false
}

// notifyStop tells the gate a play ended (on_stop).
func (h *Handler) notifyStop(req *access.Request) {
	g := h.loadGate()
	if g == nil || req == nil {
		return
	}
	r := *req
	r.Action = access.Stop
	g.Notify(&r)
}
