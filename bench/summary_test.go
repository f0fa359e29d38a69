package bench

import (
	"strings"
	"testing"
	"time"
)

func ptr(v float64) *float64 { return &v }

// client makes a result that received media at bps, or none for bps < 0.
func client(bps float64, failed bool) ClientResult {
	c := ClientResult{Sessions: 1, Failed: failed}
	if bps >= 0 {
		c.FirstMediaMS, c.FirstKeyMS, c.BitrateBPS, c.Speed, c.Video = ptr(10), ptr(20), bps, bps/2e6, 1
	}
	if failed {
		c.FailReason = "read: server closed the connection"
	}
	return c
}

func TestSummaryVerdict(t *testing.T) {
	healthy := func(n int) []ClientResult {
		cs := make([]ClientResult, n)
		for i := range cs {
			cs[i] = client(2e6, false)
		}
		return cs
	}
	tests := []struct {
		name         string
		clients      []ClientResult
		bitrate      float64 // -bitrate; 0 for the median
		maxFail      float64
		wantStarving int
		wantFailed   int
		wantPass     bool
		wantVerdict  string
		wantWarning  string
	}{
		{name: "all healthy", clients: healthy(100), maxFail: 1, wantPass: true},
		{
			name:    "one starving in a hundred is within 1%",
			clients: append(healthy(99), client(1.7e6, false)), maxFail: 1,
			wantStarving: 1, wantPass: true,
		},
		{
			name:    "two starving in a hundred is not",
			clients: append(healthy(98), client(1.7e6, false), client(1.79e6, false)), maxFail: 1,
			wantStarving: 2, wantVerdict: "2 of 100 clients failed or starved",
		},
		{
			name:    "at 90% a client is not starving",
			clients: append(healthy(99), client(1.8e6, false)), maxFail: 0,
			wantPass: true,
		},
		{
			name:    "failed and starving add up",
			clients: append(healthy(98), client(1e6, false), client(2e6, true)), maxFail: 1,
			wantStarving: 1, wantFailed: 1, wantVerdict: "2 of 100",
		},
		{
			// A failed client is not also starving: it counts once.
			name:    "a failed client is not counted twice",
			clients: append(healthy(9), client(-1, true)), maxFail: 10,
			wantFailed: 1, wantPass: true,
		},
		{
			name:    "nobody got media",
			clients: []ClientResult{client(-1, true), client(-1, true)}, maxFail: 100,
			wantFailed: 2, wantVerdict: "no client received any media",
		},
		{
			// Everyone at half rate: the median hides it, the speed warns,
			// and a given source bitrate catches it.
			name:    "uniform starvation against the median",
			clients: []ClientResult{client(1e6, false), client(1e6, false), client(1e6, false)}, maxFail: 1,
			wantPass: true, wantWarning: "all clients may be starving",
		},
		{
			name:    "uniform starvation against -bitrate",
			clients: []ClientResult{client(1e6, false), client(1e6, false), client(1e6, false)}, maxFail: 1,
			bitrate: 2e6, wantStarving: 3, wantVerdict: "3 of 3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &PlayConfig{URL: "rtmp://127.0.0.1/live/s", Clients: len(tt.clients), Bitrate: tt.bitrate, MaxFail: tt.maxFail}
			s := summarise(cfg, ProtoRTMP, tt.clients, nil, 10*time.Second, time.Second)
			if s.Starving != tt.wantStarving || s.Failed != tt.wantFailed || s.Pass != tt.wantPass {
				t.Errorf("starving %d failed %d pass %v; want %d %d %v (%s)",
					s.Starving, s.Failed, s.Pass, tt.wantStarving, tt.wantFailed, tt.wantPass, s.FailedReason)
			}
			if !strings.Contains(s.FailedReason, tt.wantVerdict) {
				t.Errorf("verdict %q, want it to say %q", s.FailedReason, tt.wantVerdict)
			}
			if got := strings.Join(s.Warnings, "; "); !strings.Contains(got, tt.wantWarning) || (tt.wantWarning == "" && got != "") {
				t.Errorf("warnings %q, want %q", got, tt.wantWarning)
			}
			n := 0
			for _, c := range tt.clients {
				if c.Starving {
					n++
				}
			}
			if n != tt.wantStarving {
				t.Errorf("%d clients marked starving, want %d", n, tt.wantStarving)
			}
		})
	}
}

func TestSummaryAggregates(t *testing.T) {
	cs := []ClientResult{client(2e6, false), client(2e6, false), client(-1, true)}
	cs[0].Bytes, cs[1].Bytes = 1e6, 3e6
	cs[0].Stalls, cs[0].MaxGapMS = 2, 1500
	cs[1].Reconnects, cs[1].Disconnects = 1, 1
	cs[2].Errors = []string{"connect: dial: connection refused"}
	cs[2].FailReason = "connect: dial: connection refused"
	cs[1].FirstKeyMS = ptr(700)
	timeline := []Sample{{T: 0}, {T: 1, Mbps: 12}, {T: 2, Mbps: 20}}
	s := summarise(&PlayConfig{Clients: 3, MaxFail: 50}, ProtoFLV, cs, timeline, 4*time.Second, 2*time.Second)
	if s.Bytes != 4e6 || s.Mbps != 8 || s.PeakMbps != 20 {
		t.Errorf("bytes %d mbps %v peak %v; want 4e6, 8, 20", s.Bytes, s.Mbps, s.PeakMbps)
	}
	if s.Stalls != 2 || s.StalledClient != 1 || s.MaxGapMS != 1500 || s.Reconnects != 1 || s.Disconnects != 1 {
		t.Errorf("stalls %d in %d, gap %v, reconnects %d, disconnects %d", s.Stalls, s.StalledClient, s.MaxGapMS, s.Reconnects, s.Disconnects)
	}
	if s.BenchCPUPct != 50 || s.Connected != 3 || s.GotMedia != 2 {
		t.Errorf("bench cpu %v%%, connected %d, got media %d; want 50, 3, 2", s.BenchCPUPct, s.Connected, s.GotMedia)
	}
	if s.Startup.N != 2 || s.Startup.Max != 700 {
		t.Errorf("startup %+v, want 2 clients, max 700", s.Startup)
	}
	if len(s.Failures) != 1 || s.Failures[0].Count != 1 || len(s.Errors) != 1 {
		t.Errorf("failures %v errors %v", s.Failures, s.Errors)
	}
	var counted int
	for _, b := range s.StartupHis {
		counted += b.Count
	}
	if counted != 2 || s.StartupHis[0].Count != 1 || s.StartupHis[4].Count != 1 {
		t.Errorf("histogram %+v: want 20 ms in ≤50ms and 700 ms in ≤1s", s.StartupHis)
	}
}

func TestHistogramEdges(t *testing.T) {
	h := histogram([]float64{0, 50, 50.1, 10000, 10001, 1e6})
	want := []int{2, 1, 0, 0, 0, 0, 0, 1, 2}
	for i, b := range h {
		if b.Count != want[i] {
			t.Errorf("bucket %s = %d, want %d", b.Label, b.Count, want[i])
		}
	}
}
