package supervisor

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"streamedge/configs"
)

func TestRequireAuth(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	both := configs.APIAuth{Token: "0123456789abcdef", Username: "admin", Password: "pw"}
	cases := []struct {
		name string
		auth configs.APIAuth
		req  func(*http.Request)
		want int
	}{
		{"off admits all", configs.APIAuth{}, func(*http.Request) {}, http.StatusTeapot},
		{"nothing sent", both, func(*http.Request) {}, http.StatusUnauthorized},
		{"bearer", both, func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef") }, http.StatusTeapot},
		{"wrong bearer", both, func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdeX") }, http.StatusUnauthorized},
		{"bearer prefix only", both, func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123") }, http.StatusUnauthorized},
		{"basic", both, func(r *http.Request) { r.SetBasicAuth("admin", "pw") }, http.StatusTeapot},
		{"basic wrong password", both, func(r *http.Request) { r.SetBasicAuth("admin", "px") }, http.StatusUnauthorized},
		{"basic when only a token is set", configs.APIAuth{Token: both.Token}, func(r *http.Request) { r.SetBasicAuth("", "") }, http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p atomic.Pointer[configs.APIAuth]
			p.Store(&c.auth)
			req := httptest.NewRequest("GET", "/api/v1/summaries", nil)
			c.req(req)
			rec := httptest.NewRecorder()
			requireAuth(&p, ok).ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Fatalf("status %d, want %d", rec.Code, c.want)
			}
			if rec.Code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("a 401 must say how to authenticate")
			}
		})
	}
}

func TestAPIExposed(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1985": false, "[::1]:1985": false, "localhost:1985": false, "127.1.2.3:0": false,
		"0.0.0.0:1985": true, ":1985": true, "10.0.0.1:1985": true, "example.test:1985": true,
	} {
		if got := apiExposed(addr); got != want {
			t.Errorf("apiExposed(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestParseClientID(t *testing.T) {
	cases := []struct {
		id    string
		pid   int
		local string
		ok    bool
	}{
		{"1234.rtmp.7", 1234, "rtmp.7", true},
		{"1234.http.1", 1234, "http.1", true},
		{"1234.", 0, "", false},
		{"x.rtmp.7", 0, "", false},
		{"-5.rtmp.7", 0, "", false},
		{"", 0, "", false},
	}
	for _, c := range cases {
		pid, local, ok := parseClientID(c.id)
		if ok != c.ok || (ok && (pid != c.pid || local != c.local)) {
			t.Errorf("parseClientID(%q) = %d, %q, %v; want %d, %q, %v", c.id, pid, local, ok, c.pid, c.local, c.ok)
		}
	}
	if id := clientID(1234, "rtmp.7"); id != "1234.rtmp.7" {
		t.Errorf("clientID = %q", id)
	}
}
