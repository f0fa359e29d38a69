package access

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Hooks are a vhost's HTTP callbacks, SRS's: each event has a list of URLs,
// called in order; every one must accept.
type Hooks struct {
	OnConnect   []string
	OnPublish   []string
	OnUnpublish []string
	OnPlay      []string
	OnStop      []string
	Timeout     time.Duration // per call; SRS's default is 3 s
}

// urls is the list of hooks of action.
func (h Hooks) urls(a Action) []string {
	switch a {
	case Connect:
		return h.OnConnect
	case Publish:
		return h.OnPublish
	case Unpublish:
		return h.OnUnpublish
	case Play:
		return h.OnPlay
	case Stop:
		return h.OnStop
	}
	return nil
}

// hookBody is the JSON SRS posts to a hook, with its field names, so hook
// servers written for SRS work unchanged.
type hookBody struct {
	ServerID  string `json:"server_id"`
	ServiceID string `json:"service_id"`
	Action    string `json:"action"`
	ClientID  string `json:"client_id"`
	IP        string `json:"ip"`
	Vhost     string `json:"vhost"`
	App       string `json:"app"`
	TcURL     string `json:"tcUrl"`
	Stream    string `json:"stream,omitempty"`
	Param     string `json:"param"`
	StreamURL string `json:"stream_url,omitempty"`
	StreamID  string `json:"stream_id,omitempty"`
	PageURL   string `json:"pageUrl,omitempty"`
}

func (g *Gate) body(r *Request) hookBody {
	b := hookBody{ServerID: g.serverID, ServiceID: g.serviceID, Action: string(r.Action), ClientID: r.ClientID,
		IP: r.IP, Vhost: r.Vhost, App: r.App, TcURL: r.TcURL}
	if r.Param != "" {
		b.Param = "?" + r.Param
	}
	if r.Action != Connect {
		b.Stream = r.Stream
		b.StreamURL = "/" + r.App + "/" + r.Stream
		b.StreamID = "vid-" + r.Vhost + "/" + r.App + "/" + r.Stream
	}
	if r.Action == Connect || r.Action == Play {
		b.PageURL = r.PageURL
	}
	return b
}

// call posts r to url and returns nil only when the hook accepted: HTTP 200
// with a body of 0, or a JSON object whose code is 0.
func (g *Gate) call(ctx context.Context, url string, r *Request, timeout time.Duration) error {
	body, err := json.Marshal(g.body(r))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return deny(ReasonHookFailed, "bad hook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return deny(ReasonHookFailed, "the %s hook did not answer within %s", r.Action, timeout)
		}
		return deny(ReasonHookFailed, "the %s hook could not be reached", r.Action)
	}
	defer resp.Body.Close()
	// A hook answers a number or a small object; more is not an answer.
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return deny(ReasonHookFailed, "the %s hook's answer broke off", r.Action)
	}
	if resp.StatusCode != http.StatusOK {
		return deny(ReasonHookFailed, "the %s hook answered HTTP %d", r.Action, resp.StatusCode)
	}
	code, ok := answerCode(answer)
	if !ok {
		return deny(ReasonHookFailed, "the %s hook's answer is neither 0 nor {\"code\": 0}", r.Action)
	}
	if code != 0 {
		return deny(ReasonHookDenied, "refused by the %s hook (code %d)", r.Action, code)
	}
	return nil
}

// answerCode reads SRS's two answer forms: a bare integer or {"code": N}.
func answerCode(b []byte) (int, bool) {
	s := strings.TrimSpace(string(b))
	if n, err := strconv.Atoi(s); err == nil {
		return n, true
	}
	var obj struct {
		Code *int `json:"code"`
	}
	if json.Unmarshal([]byte(s), &obj) == nil && obj.Code != nil {
		return *obj.Code, true
	}
	return 0, false
}

// String names the hooks that are set, for the start-up log.
func (h Hooks) String() string {
	var on []string
	for _, a := range []Action{Connect, Publish, Unpublish, Play, Stop} {
		if n := len(h.urls(a)); n > 0 {
			on = append(on, fmt.Sprintf("%s=%d", a, n))
		}
	}
	return strings.Join(on, ",")
}
