package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"streamedge/media/rtmp"
)

// TestAdmissionOf: refusals are told apart by how the server said no, in
// the words reason() gives the players' errors, and only the admitted
// players' rates count towards their share.
func TestAdmissionOf(t *testing.T) {
	ms := 10.0
	admitted := func(bps float64, starving bool) ClientResult {
		return ClientResult{FirstMediaMS: &ms, BitrateBPS: bps, Starving: starving}
	}
	failed := func(err error) ClientResult { return ClientResult{Failed: true, FailReason: reason(err)} }
	http503 := phased("play", errors.New("HTTP 503 Service Unavailable: {\"reason\":\"writer_load\"}"))
	rtmpRejected := phased("connect", &rtmp.StatusError{Code: "NetConnection.Connect.Rejected", Description: "host full"})
	clients := []ClientResult{
		admitted(2e6, false), admitted(1.9e6, false), admitted(1.5e6, true),
		{FirstMediaMS: &ms, Failed: true, FailReason: "read: server closed the connection"}, // dropped after it played
		failed(http503), failed(http503), failed(rtmpRejected),
		failed(phased("read", fmt.Errorf("no media for 10s"))), failed(phased("connect", io.EOF)),
	}
	s := summarise(&PlayConfig{Clients: len(clients), Bitrate: 2e6}, ProtoFLV, clients, nil, 1, 0)
	got := admissionOf(clients, &s)
	want := Admission{Offered: 9, Admitted: 4, Refused: 3, Refused503: 2, RefusedRTMP: 1, OtherFailed: 2,
		Starving: 2, StarvingPct: 50}
	if got.Offered != want.Offered || got.Admitted != want.Admitted || got.Refused != want.Refused ||
		got.Refused503 != want.Refused503 || got.RefusedRTMP != want.RefusedRTMP || got.OtherFailed != want.OtherFailed ||
		got.Starving != want.Starving || got.StarvingPct != want.StarvingPct {
		t.Errorf("admissionOf = %+v\nwant %+v", got, want)
	}
	// Nearest rank over the admitted: 0 (the dropped one), 1.5M, 1.9M, 2M.
	if got.ShareP1 != 0 || got.ShareP50 != 0.75 {
		t.Errorf("shares p1 %v p50 %v, want 0 and 0.75", got.ShareP1, got.ShareP50)
	}
}

func TestWriteAdmission(t *testing.T) {
	tests := []struct {
		name string
		a    Admission
		want string
	}{
		{"kept", Admission{Offered: 15000, Admitted: 11000, Refused: 4000, Refused503: 4000, ShareP1: 0.97, ShareP50: 1.01},
			"admitted players kept the rate"},
		{"p1 under", Admission{Offered: 15000, Admitted: 11000, ShareP1: 0.8, ShareP50: 0.99}, "did NOT keep 90% of the rate"},
		{"too many starving", Admission{Offered: 100, Admitted: 100, ShareP1: 0.95, Starving: 2, StarvingPct: 2}, "did NOT keep"},
		{"none", Admission{Offered: 100, Refused: 100}, "no player was admitted"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		writeAdmission(&b, tt.a)
		if !strings.Contains(b.String(), tt.want) || !strings.Contains(b.String(), fmt.Sprintf("offered %d", tt.a.Offered)) {
			t.Errorf("%s: no %q in %q", tt.name, tt.want, b.String())
		}
	}
}

func TestPastCapacitySteps(t *testing.T) {
	tests := []struct {
		n      int
		factor float64
		want   int
	}{
		{10000, 1.5, 15000},
		{8000, 1.25, 10000},
		{16000, 1.5, MaxClients},
		{10000, 0, 0},
		{10000, 1, 0},
	}
	for _, tt := range tests {
		if got := pastCapacitySteps(tt.n, tt.factor); got != tt.want {
			t.Errorf("pastCapacitySteps(%d, %g) = %d, want %d", tt.n, tt.factor, got, tt.want)
		}
	}
}

// TestDecisionLog keeps the admission decisions of a server's log lines
// and only those, bounded, with their time from a step's start.
func TestDecisionLog(t *testing.T) {
	var l decisionLog
	start := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	line := func(at time.Duration, msg, action, detail string) map[string]any {
		return map[string]any{"time": start.Add(at).Format(time.RFC3339Nano), "msg": msg, "action": action, "detail": detail}
	}
	l.add(line(-time.Second, "balance decision", "writer_full", "before the step"))
	l.add(line(1500*time.Millisecond, "balance decision", "writer_full", "writer load 1.68 >= writer_load_high 0.9"))
	l.add(line(2*time.Second, "balance decision", "weigh", "not about admission"))
	l.add(line(3*time.Second, "admission", "", ""))
	l.add(line(4*time.Second, "balance decision", "cool", strings.Repeat("x", 300)))
	got := l.since(start)
	if len(got) != 2 || got[0] != "  +1.5s writer_full: writer load 1.68 >= writer_load_high 0.9" ||
		!strings.HasPrefix(got[1], "  +4.0s cool: xxx") || len(got[1]) > 230 {
		t.Errorf("since = %q", got)
	}
}
