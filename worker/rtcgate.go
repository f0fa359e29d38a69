package worker

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"streamedge/media/access"
	"streamedge/media/hub"
	"streamedge/media/webrtc"
)

// rtcGate holds the access gate of WHIP/WHEP offers. Offers are put to it
// on the worker the client reached, before placement forwards them: a
// forwarded offer was admitted already.
type rtcGate struct{ gate atomic.Pointer[access.Gate] }

func (r *rtcServer) setGate(g *access.Gate) { r.gates.gate.Store(g) }

// admit asks the gate about an offer and answers a refusal itself (403,
// 401 for a URL without a signature, 503 when a hook server is down; the
// JSON API's {code, msg} shape on /rtc/v1/publish/ and /play/).
func (r *rtcServer) admit(w http.ResponseWriter, req *http.Request, role webrtc.Role, isJSON bool) bool {
	g := r.gates.gate.Load()
	if g == nil {
		return true
	}
	key, param, ok := offerTarget(req, isJSON)
	if !ok {
		return true // the signalling layer answers a bad stream name itself
	}
	ip, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		ip = req.RemoteAddr
	}
	action := access.Play
	if role == webrtc.RolePublish {
		action = access.Publish
	}
	err = g.Admit(req.Context(), &access.Request{Action: action, IP: ip, Vhost: key.Vhost, App: key.App,
		Stream: key.Name, Param: param, TcURL: "webrtc://" + req.Host + "/" + key.App, PageURL: req.Referer()})
	if err == nil {
		return true
	}
	code, msg := http.StatusForbidden, "access denied"
	if d, ok := access.IsDenied(err); ok {
		msg = d.Detail
		switch d.Reason {
		case access.ReasonUnsigned:
			code = http.StatusUnauthorized
		case access.ReasonHookFailed:
			code = http.StatusServiceUnavailable
		}
	}
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"code": code, "msg": msg})
		return false
	}
	http.Error(w, msg, code)
	return false
}

// offerTarget names the stream an offer is for and the query that may
// carry its signature: the URL's for WHIP/WHEP, streamurl's for SRS's JSON
// API, whose body is read and put back for the signalling layer.
func offerTarget(req *http.Request, isJSON bool) (hub.Key, string, bool) {
	if !isJSON {
		key, ok := webrtc.StreamKey(req)
		return key, req.URL.RawQuery, ok
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	req.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return hub.Key{}, "", false
	}
	var r struct {
		StreamURL string `json:"streamurl"`
	}
	if json.Unmarshal(body, &r) != nil {
		return hub.Key{}, "", false
	}
	key, ok := webrtc.ParseStreamURL(r.StreamURL)
	_, query, _ := strings.Cut(r.StreamURL, "?")
	q, _ := url.ParseQuery(query)
	q.Del("vhost")
	return key, q.Encode(), ok
}
