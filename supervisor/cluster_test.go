package supervisor

import (
	"strings"
	"testing"

	"streamedge/configs"
)

func TestResolveKey(t *testing.T) {
	for _, tc := range []struct {
		vhost, stream, want, err string
	}{
		{"", "live/s", "__defaultVhost__/live/s", ""},
		{"", "live/s.flv", "__defaultVhost__/live/s", ""},
		{"cdn.example", "live/sub/s-1_a~b", "cdn.example/live/sub/s-1_a~b", ""},
		{"", "s", "", "stream must be APP/STREAM"},
		{"", "/s", "", "stream must be APP/STREAM"},
		{"", "live/", "", "stream must be APP/STREAM"},
		{"", "live//s", "", "letters, digits"},
		{"", "live/../s", "", "letters, digits"},
		{"", "live/s?x=1", "", "letters, digits"},
		{"bad vhost", "live/s", "", "letters, digits"},
		{"", "live/" + strings.Repeat("x", 300), "", "at most 256 bytes"},
	} {
		got, err := resolveKey(tc.vhost, tc.stream)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("resolveKey(%q, %q) = %q, %v; want an error with %q", tc.vhost, tc.stream, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("resolveKey(%q, %q) = %q, %v; want %q", tc.vhost, tc.stream, got, err, tc.want)
		}
	}
}

func TestClusterFull(t *testing.T) {
	base := configs.Default().Balance
	for _, tc := range []struct {
		name     string
		balance  func(*configs.Balance)
		host     HostLoad
		totals   Totals
		quitting bool
		want     bool
	}{
		{name: "idle", want: false},
		{name: "cpu at the threshold is not over it", host: HostLoad{CPUPercent: 80}, want: false},
		{name: "cpu over host_cpu_high", host: HostLoad{CPUPercent: 80.5}, want: true},
		{name: "connections at host_max_connections", balance: func(b *configs.Balance) { b.HostMaxConnections = 10 },
			totals: Totals{Connections: 10}, want: true},
		{name: "no connection cap", totals: Totals{Connections: 1e6}, want: false},
		{name: "bytes out over host_bytes_out_max", balance: func(b *configs.Balance) { b.HostBytesOutMax = 1e6 },
			totals: Totals{BytesOutPerSec: 1e6}, want: true},
		{name: "host_bytes_out_max auto is not a limit here", balance: func(b *configs.Balance) { b.HostBytesOutMax = configs.RateAuto },
			totals: Totals{BytesOutPerSec: 1e12}, want: false},
		{name: "quitting", quitting: true, want: true},
	} {
		cfg := configs.Default()
		cfg.Balance = base
		if tc.balance != nil {
			tc.balance(&cfg.Balance)
		}
		m := &Master{cfg: cfg, quitting: tc.quitting}
		if got := m.clusterFull(tc.host, tc.totals); got != tc.want {
			t.Errorf("%s: full = %v, want %v", tc.name, got, tc.want)
		}
	}
}
