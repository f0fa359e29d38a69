package bench

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestExpandURL(t *testing.T) {
	tests := []struct {
		tmpl string
		i    int
		want string
	}{
		{"rtmp://127.0.0.1/live/s", 7, "rtmp://127.0.0.1/live/s"},
		{"rtmp://127.0.0.1/live/s{i}", 7, "rtmp://127.0.0.1/live/s7"},
		{"http://127.0.0.1:8080/live/s{i}.flv?id={i}", 0, "http://127.0.0.1:8080/live/s0.flv?id=0"},
		{"rtmp://127.0.0.1/live/s{i%10}", 123, "rtmp://127.0.0.1/live/s3"},
		{"rtmp://127.0.0.1/live/s{i%1}", 5, "rtmp://127.0.0.1/live/s0"},
		{"rtmp://127.0.0.1/live/s{i%0}", 5, "rtmp://127.0.0.1/live/s{i%0}"},
		{"rtmp://127.0.0.1/live/s{j}", 5, "rtmp://127.0.0.1/live/s{j}"},
	}
	for _, tt := range tests {
		if got := ExpandURL(tt.tmpl, tt.i); got != tt.want {
			t.Errorf("ExpandURL(%q, %d) = %q, want %q", tt.tmpl, tt.i, got, tt.want)
		}
	}
}

func TestProtocolOf(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"rtmp://127.0.0.1/live/s", ProtoRTMP},
		{"rtmp://127.0.0.1:1935/live/s?token=x", ProtoRTMP},
		{"http://127.0.0.1:8080/live/s.flv", ProtoFLV},
		{"http://127.0.0.1:8080/live/s.flv?vhost=v", ProtoFLV},
		{"http://127.0.0.1:8080/live/s/whep", ProtoWHEP},
		{"http://127.0.0.1:8080/rtc/v1/whep/?app=live&stream=s", ProtoWHEP},
		{"http://127.0.0.1:8080/live/s/whip", ""},
		{"http://127.0.0.1:8080/live/s.m3u8", ""},
		{"https://127.0.0.1/live/s.flv", ""},
		{"127.0.0.1/live/s", ""},
		{"rtmp:///live/s", ""},
	}
	for _, tt := range tests {
		got, err := ProtocolOf(tt.url)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("ProtocolOf(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
}

// fakeResolver answers from a table, and fails for names not in it.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestCheckLoopback(t *testing.T) {
	r := fakeResolver{
		"box.local":   {"127.0.1.1"},
		"dual.local":  {"127.0.0.1", "::1"},
		"mixed.local": {"127.0.0.1", "192.168.1.5"},
		"remote.com":  {"93.184.216.34"},
		"empty.local": {},
	}
	tests := []struct {
		url     string
		wantErr string // "" for allowed
	}{
		{"rtmp://127.0.0.1/live/s", ""},
		{"rtmp://127.255.255.254:1935/live/s", ""},
		{"http://[::1]:8080/live/s.flv", ""},
		{"http://[::ffff:127.0.0.1]:8080/live/s.flv", ""},
		{"rtmp://localhost/live/s", ""},
		{"rtmp://LocalHost:1935/live/s", ""},
		{"rtmp://box.local/live/s", ""},
		{"rtmp://dual.local/live/s", ""},
		{"rtmp://mixed.local/live/s", "192.168.1.5"},
		{"rtmp://remote.com/live/s", "not a loopback"},
		{"rtmp://10.0.0.1/live/s", "not a loopback"},
		{"rtmp://0.0.0.0/live/s", "not a loopback"},
		{"rtmp://[::]/live/s", "not a loopback"},
		{"rtmp://nowhere.invalid/live/s", "resolving"},
		{"rtmp://empty.local/live/s", "no address"},
	}
	for _, tt := range tests {
		err := CheckLoopback(context.Background(), r, tt.url)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckLoopback(%q) = %v, want nil", tt.url, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckLoopback(%q) = %v, want an error with %q", tt.url, err, tt.wantErr)
		}
	}
}

func TestCheckTargetsEveryHost(t *testing.T) {
	// {i} in the host: the second client's target is not loopback.
	_, err := checkTargets(context.Background(), "rtmp://127.0.0.{i}/live/s", 2, false)
	if err != nil {
		t.Fatalf("127.0.0.0 and 127.0.0.1 are loopback: %v", err)
	}
	if _, err := checkTargets(context.Background(), "rtmp://10.0.0.{i}/live/s", 2, false); err == nil {
		t.Fatal("10.0.0.x accepted without -allow-remote")
	}
	if _, err := checkTargets(context.Background(), "rtmp://10.0.0.{i}/live/s", 2, true); err != nil {
		t.Fatalf("refused with allow-remote: %v", err)
	}
}
