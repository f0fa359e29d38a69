package webrtc

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"streamedge/media/hub"
)

// Signalling paths.
const (
	PathWHIP       = "/rtc/v1/whip/"      // ?app=&stream= (SRS's)
	PathWHEP       = "/rtc/v1/whep/"      // ?app=&stream=
	pathWHIPPlay   = "/rtc/v1/whip-play/" // SRS's older name for WHEP
	PathAPIPublish = "/rtc/v1/publish/"   // SRS's JSON API
	PathAPIPlay    = "/rtc/v1/play/"
	// PathSession is the prefix of a session's resource URL: PATCH
	// (trickle ICE) and DELETE go there.
	PathSession = "/rtc/v1/session/"
)

// Role is what an offer asks for.
type Role int

// Roles.
const (
	RolePublish Role = iota + 1
	RolePlay
)

// Route tells whether path is served by the WebRTC handler and, for an
// offer, which role and API it is (json: SRS's JSON API rather than WHIP
// or WHEP). Paths: /rtc/v1/{whip,whep,whip-play}/, /rtc/v1/{publish,play}/,
// /{app}/{stream}/{whip,whep}, and /rtc/v1/session/{id}.
func Route(path string) (role Role, json, ok bool) {
	switch path {
	case PathWHIP:
		return RolePublish, false, true
	case PathWHEP, pathWHIPPlay:
		return RolePlay, false, true
	case PathAPIPublish:
		return RolePublish, true, true
	case PathAPIPlay:
		return RolePlay, true, true
	}
	if strings.HasPrefix(path, PathSession) {
		return 0, false, true
	}
	switch {
	case strings.HasSuffix(path, "/whip"):
		return RolePublish, false, true
	case strings.HasSuffix(path, "/whep"):
		return RolePlay, false, true
	}
	return 0, false, false
}

// Handler serves WebRTC signalling and hands every other request to next.
func (s *Server) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, isJSON, ok := Route(r.URL.Path)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		cors(w)
		switch {
		case r.Method == http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
		case strings.HasPrefix(r.URL.Path, PathSession):
			s.serveResource(w, r, strings.TrimPrefix(r.URL.Path, PathSession))
		case r.Method != http.MethodPost:
			w.Header().Set("Allow", "POST, OPTIONS")
			textError(w, http.StatusMethodNotAllowed, "use POST with an SDP offer")
		case isJSON:
			s.serveJSON(w, r, role)
		default:
			s.serveOffer(w, r, role)
		}
	})
}

// cors lets a page on another origin signal (WHIP/WHEP clients in browsers).
func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, If-Match")
	h.Set("Access-Control-Expose-Headers", "Location, ETag, Link")
}

// StreamKey names the stream of a WHIP/WHEP request: ?app=&stream= on the
// /rtc/v1/ paths, /{app}/{stream}/whip otherwise; ?vhost= on either.
func StreamKey(r *http.Request) (hub.Key, bool) {
	q := r.URL.Query()
	key := hub.Key{Vhost: q.Get("vhost"), App: q.Get("app"), Name: q.Get("stream")}
	if !strings.HasPrefix(r.URL.Path, "/rtc/v1/") {
		p := strings.TrimPrefix(r.URL.Path, "/")
		p = p[:strings.LastIndex(p, "/")] // drop whip/whep
		i := strings.LastIndex(p, "/")
		if i <= 0 {
			return key, false
		}
		key.App, key.Name = p[:i], p[i+1:]
	}
	if key.Vhost == "" {
		key.Vhost = hub.DefaultVhost
	}
	return key, validKey(key) && !strings.Contains(key.Vhost, "/")
}

// Offer runs an offer for role and returns the answer and session id.
func (s *Server) Offer(role Role, offer string, key hub.Key, addr string) (answer, id string, err error) {
	if role == RolePublish {
		return s.Publish(offer, key, addr)
	}
	return s.Play(offer, key, addr)
}

func (s *Server) serveOffer(w http.ResponseWriter, r *http.Request, role Role) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/sdp") {
		textError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/sdp")
		return
	}
	key, ok := StreamKey(r)
	if !ok {
		textError(w, http.StatusBadRequest, ErrBadStream.Error())
		return
	}
	offer, err := readBody(r)
	if err != nil {
		textError(w, http.StatusBadRequest, err.Error())
		return
	}
	answer, id, err := s.Offer(role, offer, key, r.RemoteAddr)
	if err != nil {
		textError(w, ErrorStatus(err), err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", PathSession+id)
	w.Header().Set("ETag", `"`+id+`"`)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// serveResource is PATCH (trickle ICE) and DELETE on a session.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, id string) {
	var err error
	switch r.Method {
	case http.MethodDelete:
		err = s.Delete(id)
	case http.MethodPatch:
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/trickle-ice-sdpfrag") {
			textError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/trickle-ice-sdpfrag")
			return
		}
		var frag string
		if frag, err = readBody(r); err == nil {
			err = s.Patch(id, frag)
		}
	default:
		w.Header().Set("Allow", "PATCH, DELETE, OPTIONS")
		textError(w, http.StatusMethodNotAllowed, "use PATCH or DELETE on a session")
		return
	}
	if err != nil {
		textError(w, ErrorStatus(err), err.Error())
		return
	}
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiRequest is the body srs.sdk.js sends to /rtc/v1/publish/ and /play/.
type apiRequest struct {
	API       string `json:"api"`
	TID       string `json:"tid"`
	StreamURL string `json:"streamurl"`
	ClientIP  string `json:"clientip"`
	SDP       string `json:"sdp"`
}

// apiResponse is SRS's answer: code 0 and the SDP, or a code and a message.
type apiResponse struct {
	Code      int    `json:"code"`
	Server    string `json:"server,omitempty"`
	SessionID string `json:"sessionid,omitempty"`
	SDP       string `json:"sdp,omitempty"`
	Msg       string `json:"msg,omitempty"`
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request, role Role) {
	answer := func(status int, resp apiResponse) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(resp)
	}
	fail := func(status int, msg string) { answer(status, apiResponse{Code: status, Msg: msg}) }
	body, err := readBody(r)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	var req apiRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		fail(http.StatusBadRequest, "body is not JSON: {api, streamurl, sdp, clientip}")
		return
	}
	key, ok := ParseStreamURL(req.StreamURL)
	if !ok {
		fail(http.StatusBadRequest, "streamurl must be webrtc://host/app/stream")
		return
	}
	sdp, id, err := s.Offer(role, req.SDP, key, r.RemoteAddr)
	if err != nil {
		fail(ErrorStatus(err), err.Error())
		return
	}
	answer(http.StatusOK, apiResponse{Code: 0, Server: "streamedge", SessionID: id, SDP: sdp})
}

// ParseStreamURL reads SRS's streamurl, webrtc://host[:port]/app/stream[?vhost=...].
func ParseStreamURL(s string) (hub.Key, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Path == "" {
		return hub.Key{}, false
	}
	p := strings.Trim(u.Path, "/")
	i := strings.LastIndex(p, "/")
	if i <= 0 {
		return hub.Key{}, false
	}
	key := hub.Key{Vhost: u.Query().Get("vhost"), App: p[:i], Name: p[i+1:]}
	if key.Vhost == "" {
		key.Vhost = hub.DefaultVhost
	}
	return key, validKey(key) && !strings.Contains(key.Vhost, "/")
}

func readBody(r *http.Request) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxOfferSize+1))
	if err != nil {
		return "", errors.New("reading the request body failed")
	}
	if len(b) > maxOfferSize {
		return "", errors.New("request body is too large")
	}
	return string(b), nil
}

// ErrorStatus maps an Offer, Patch or Delete error to its HTTP status.
func ErrorStatus(err error) int {
	switch {
	case errors.Is(err, hub.ErrStreamBusy):
		return http.StatusConflict
	case errors.Is(err, hub.ErrNotPublished), errors.Is(err, ErrNoSession):
		return http.StatusNotFound
	case errors.Is(err, ErrBadOffer), errors.Is(err, ErrNoCodec), errors.Is(err, ErrBadStream), errors.Is(err, hub.ErrReservedName):
		return http.StatusBadRequest
	case errors.Is(err, ErrClosed), errors.Is(err, hub.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// maxErrorText bounds an error body, which may quote client input.
const maxErrorText = 200

func textError(w http.ResponseWriter, status int, msg string) {
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText]
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}
