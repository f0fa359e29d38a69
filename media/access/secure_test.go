package access

import (
	"net/url"
	"strconv"
	"testing"
	"time"
)

func TestSecureCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := Secure{PublishKey: "pub-secret", PlayKey: "play-secret"}
	signed := func(key, path string, exp time.Time) string { return SignedQuery(key, path, exp) }
	cases := []struct {
		name   string
		action Action
		param  string
		want   string // "" = admitted, else the reason
	}{
		{"valid play", Play, signed("play-secret", "/live/s", now.Add(time.Minute)), ""},
		{"valid publish", Publish, signed("pub-secret", "/live/s", now.Add(time.Minute)), ""},
		{"valid with other params", Play, "token=x&" + signed("play-secret", "/live/s", now.Add(time.Minute)), ""},
		{"expires now is still valid", Play, signed("play-secret", "/live/s", now), ""},
		{"expired", Play, signed("play-secret", "/live/s", now.Add(-time.Second)), ReasonExpired},
		{"missing", Play, "", ReasonUnsigned},
		{"sign only", Play, "sign=abc", ReasonUnsigned},
		{"wrong key", Play, signed("pub-secret", "/live/s", now.Add(time.Minute)), ReasonBadSign},
		{"other stream", Play, signed("play-secret", "/live/other", now.Add(time.Minute)), ReasonBadSign},
		{"expires edited", Play, url.Values{"expires": {strconv.FormatInt(now.Add(time.Hour).Unix(), 10)},
			"sign": {Sign("play-secret", "/live/s", now.Add(time.Minute).Unix())}}.Encode(), ReasonBadSign},
		{"expires not a number", Play, "expires=soon&sign=00", ReasonBadSign},
		{"connect needs no signature", Connect, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Check(&Request{Action: c.action, App: "live", Stream: "s", Param: c.param}, now)
			d, denied := IsDenied(err)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && !denied:
				t.Fatalf("admitted, want %s", c.want)
			case c.want != "" && d.Reason != c.want:
				t.Fatalf("reason %s, want %s (%v)", d.Reason, c.want, err)
			}
		})
	}
}

func TestSecureOpenWithoutKey(t *testing.T) {
	s := Secure{PlayKey: "k"}
	if err := s.Check(&Request{Action: Publish, App: "live", Stream: "s"}, time.Now()); err != nil {
		t.Fatalf("publish has no key and must be open: %v", err)
	}
	if err := s.Check(&Request{Action: Play, App: "live", Stream: "s"}, time.Now()); err == nil {
		t.Fatal("play has a key and must need a signature")
	}
}

func TestSignKnownVector(t *testing.T) {
	// HMAC-SHA256("key", "/live/s1800000000"), computed with openssl:
	// printf '/live/s1800000000' | openssl dgst -sha256 -hmac key
	const want = "c3740ae7fdff3d1655f7d8d0a53c823d087b8f0345f3c6e7e97fce14ac378706"
	if got := Sign("key", "/live/s", 1800000000); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}
