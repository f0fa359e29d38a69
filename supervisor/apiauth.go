package supervisor

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"streamedge/configs"
)

// requireAuth wraps the API in api.auth's check: a bearer token or basic
// auth admits. Compared in constant time, so the answer's timing tells
// nothing of how much of a guess was right.
func requireAuth(auth *atomic.Pointer[configs.APIAuth], next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := auth.Load()
		if a == nil || !a.Enabled() || authorized(*a, r) {
			next.ServeHTTP(w, r)
			return
		}
		if a.Username != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="streamedge", charset="UTF-8"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="streamedge"`)
		}
		writeJSON(w, http.StatusUnauthorized, errorResponse{Code: 401, Error: "authentication required (api.auth)"})
	})
}

func authorized(a configs.APIAuth, r *http.Request) bool {
	if a.Token != "" {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equal(tok, a.Token) {
			return true
		}
	}
	if a.Username != "" {
		if u, p, ok := r.BasicAuth(); ok && equal(u, a.Username) && equal(p, a.Password) {
			return true
		}
	}
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// apiExposed says whether the API listens beyond loopback, where it needs
// api.auth.
func apiExposed(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// kickJSON is DELETE /api/v1/clients/{id}: SRS's kick.
func (m *Master) kickJSON(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := m.Kick(ctx, r.PathValue("id"), "kicked through the API")
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, struct {
			Code int `json:"code"`
		}{0})
	case errors.Is(err, ErrNoSuchClient):
		writeJSON(w, http.StatusNotFound, errorResponse{Code: 404, Error: err.Error()})
	default:
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Code: 503, Error: "master busy: " + err.Error()})
	}
}
