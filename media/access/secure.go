package access

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"time"
)

// Secure holds a vhost's signing keys. An empty key leaves that action open.
type Secure struct {
	PublishKey string
	PlayKey    string
}

// Sign returns the hex HMAC-SHA256 of path+expires under key, where path is
// "/app/stream". It is what an operator's token service computes.
func Sign(key, path string, expires int64) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(path))
	m.Write([]byte(strconv.FormatInt(expires, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// SignedQuery returns the query string ("expires=..&sign=..") that makes a
// URL of path valid until expires.
func SignedQuery(key, path string, expires time.Time) string {
	e := expires.Unix()
	return url.Values{"expires": {strconv.FormatInt(e, 10)}, "sign": {Sign(key, path, e)}}.Encode()
}

// key is the key that guards action, or "" when the action is open.
func (s Secure) key(a Action) string {
	switch a {
	case Publish:
		return s.PublishKey
	case Play:
		return s.PlayKey
	}
	return ""
}

// Check verifies the signature a request's query carries for its action.
func (s Secure) Check(r *Request, now time.Time) error {
	key := s.key(r.Action)
	if key == "" {
		return nil
	}
	q, _ := url.ParseQuery(r.Param)
	exp, sign := q.Get("expires"), q.Get("sign")
	if exp == "" || sign == "" {
		return deny(ReasonUnsigned, "the URL carries no expires/sign")
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return deny(ReasonBadSign, "expires is not a unix time")
	}
	want := Sign(key, "/"+r.App+"/"+r.Stream, e)
	// Compare before looking at the clock, so a wrong signature and an
	// expired one take the same time to find.
	ok := hmac.Equal([]byte(want), []byte(sign))
	if !ok {
		return deny(ReasonBadSign, "the signature does not match")
	}
	if now.Unix() > e {
		return deny(ReasonExpired, "the signed URL has expired")
	}
	return nil
}
