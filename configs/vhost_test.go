package configs

import (
	"reflect"
	"strings"
	"testing"
)

func TestVhosts(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		err  string // exact, joined errors one per line; empty: must parse
	}{
		{name: "edge", in: lines(
			"vhosts:",
			"  __defaultVhost__:",
			"    cluster:",
			"      mode: remote",
			"      origin: [10.0.0.1:1935, 10.0.0.2]",
			"      balance: consistent_hash",
			"      protocol: flv",
			"      token_traverse: true",
			"      vhost: up.example.com",
			"  customer.a:",
			"    cluster: {mode: remote, origin: [server.a:1935]}",
		)},
		{name: "local needs no origin", in: lines("vhosts:", "  a.b:", "    cluster: {mode: local}")},
		{name: "remote without origin", in: lines(
			"vhosts:",
			"  customer.a:",
			"    cluster:",
			"      mode: remote",
		), err: "streamedge.yaml:3: vhosts.customer.a.cluster.origin must list at least one origin when mode is remote"},
		{name: "bad values point at their lines", in: lines(
			"vhosts:",
			"  __defaultVhost__:",
			"    cluster:",
			"      mode: edge",
			"      origin: ['rtmp://x/live', 'a:0', 'b:1935', 'b']",
			"      balance: random",
			"      protocol: hls",
			"      vhost: 'a b'",
		), err: lines(
			`streamedge.yaml:4: vhosts.__defaultVhost__.cluster.mode must be one of local | remote, got "edge"`,
			`streamedge.yaml:6: vhosts.__defaultVhost__.cluster.balance must be one of round_robin | consistent_hash, got "random"`,
			`streamedge.yaml:7: vhosts.__defaultVhost__.cluster.protocol must be one of rtmp | flv, got "hls"`,
			`streamedge.yaml:8: vhosts.__defaultVhost__.cluster.vhost is not a valid vhost name, got "a b"`,
			`streamedge.yaml:5: vhosts.__defaultVhost__.cluster.origin must be host or host:port, got "rtmp://x/live"`,
			`streamedge.yaml:5: vhosts.__defaultVhost__.cluster.origin must be host or host:port, got "a:0"`,
			`streamedge.yaml:5: vhosts.__defaultVhost__.cluster.origin lists b:1935 twice`,
		)},
		{name: "unknown key", in: lines("vhosts:", "  a:", "    cluster:", "      orign: [x]"),
			err: `streamedge.yaml:4: unknown key "vhosts.a.cluster.orign"`},
		{name: "hooks and keys", in: lines(
			"vhosts:",
			"  __defaultVhost__:",
			"    http_hooks:",
			"      on_publish: [http://127.0.0.1:8085/api/v1/streams]",
			"      on_play: [https://auth.example.com/play, 'http://[::1]:9/x']",
			"      timeout: 2s",
			"    secure: {publish_key: 0123456789abcdef}",
		)},
		{name: "bad hooks and keys", in: lines(
			"vhosts:",
			"  v:",
			"    http_hooks:",
			"      on_connect: [ftp://x/y]",
			"      on_stop: ['127.0.0.1:8085/hook']",
			"      timeout: 1m",
			"    secure: {play_key: short}",
		), err: lines(
			`streamedge.yaml:4: vhosts.v.http_hooks.on_connect must list http:// or https:// URLs, got "ftp://x/y"`,
			`streamedge.yaml:5: vhosts.v.http_hooks.on_stop must list http:// or https:// URLs, got "127.0.0.1:8085/hook"`,
			`streamedge.yaml:6: vhosts.v.http_hooks.timeout must be <= 30s, got 1m0s`,
			`streamedge.yaml:7: vhosts.v.secure.play_key must be at least 16 characters, got 5`,
		)},
		{name: "bad vhost name", in: lines("vhosts:", "  'a/b':", "    cluster: {}"),
			err: `streamedge.yaml:2: vhosts.a/b is not a valid vhost name (letters, digits, '.', '-', '_')`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("streamedge.yaml", []byte(tc.in))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("Parse succeeded, want\n%s", tc.err)
			case tc.err != "" && err.Error() != strings.TrimSuffix(tc.err, "\n"):
				t.Fatalf("error:\n%s\nwant:\n%s", err, tc.err)
			}
		})
	}
}

func TestClusterFallsBackToDefaultVhost(t *testing.T) {
	c, err := Parse("edge.yaml", []byte(lines(
		"vhosts:",
		"  __defaultVhost__:",
		"    cluster: {mode: remote, origin: [o1, 'o2:1936']}",
		"  customer.a:",
		"    cluster: {mode: remote, origin: [a1], protocol: flv}",
		"  local.b:",
		"    cluster: {}",
	)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		vhost string
		want  Cluster
	}{
		{"unlisted", Cluster{Mode: "remote", Origin: []string{"o1:1935", "o2:1936"}, Balance: "round_robin", Protocol: "rtmp"}},
		{DefaultVhost, Cluster{Mode: "remote", Origin: []string{"o1:1935", "o2:1936"}, Balance: "round_robin", Protocol: "rtmp"}},
		{"customer.a", Cluster{Mode: "remote", Origin: []string{"a1:8080"}, Balance: "round_robin", Protocol: "flv"}},
		{"local.b", Cluster{Mode: "local", Origin: []string{}, Balance: "round_robin", Protocol: "rtmp"}},
	} {
		if got := c.Cluster(tc.vhost); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Cluster(%q) = %+v, want %+v", tc.vhost, got, tc.want)
		}
	}
	if Default().Remote("any") {
		t.Error("the default config is an edge")
	}
}

func TestDefaultHasNoSharedVhosts(t *testing.T) {
	a, err := Parse("a.yaml", []byte(lines("vhosts:", "  x:", "    cluster: {mode: local}")))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Vhosts["x"]; !ok || Default().Vhosts != nil {
		t.Fatalf("vhosts leaked into the defaults: %v", Default().Vhosts)
	}
}

// The example configs are what users copy: they must load.
func TestExampleConfigsLoad(t *testing.T) {
	for _, name := range []string{"edge.yaml", "origin.yaml"} {
		c, err := Load(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := c.Remote("customer.a"); got != (name == "edge.yaml") {
			t.Errorf("%s: Remote(customer.a) = %v", name, got)
		}
	}
}

func TestRTCBridge(t *testing.T) {
	c, err := Parse("streamedge.yaml", []byte(lines(
		"vhosts:",
		"  __defaultVhost__:",
		"    rtc: {rtmp_to_rtc: false}",
		"  both.off:",
		"    rtc: {rtmp_to_rtc: false, rtc_to_rtmp: false}",
		"  unset:",
		"    cluster: {mode: local}",
	)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		vhost         string
		toRTC, toRTMP bool
	}{
		{"unlisted", false, true},
		{DefaultVhost, false, true},
		{"both.off", false, false},
		{"unset", true, true},
	} {
		if a, b := c.RTCBridge(tc.vhost); a != tc.toRTC || b != tc.toRTMP {
			t.Errorf("RTCBridge(%q) = %v, %v, want %v, %v", tc.vhost, a, b, tc.toRTC, tc.toRTMP)
		}
	}
	if a, b := Default().RTCBridge("any"); !a || !b {
		t.Error("the default config does not bridge both ways")
	}
	if _, err := Parse("streamedge.yaml", []byte(lines("vhosts:", "  v:", "    rtc: {rtmp_to_rtc: yes please}"))); err == nil {
		t.Error("a non-boolean rtmp_to_rtc was accepted")
	}
}
