package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Admission is how a step's offered players fared when the server may
// refuse some: the ones it took must keep the stream's rate, and the ones
// it refused must hear so at once (503, RTMP reject), not time out.
type Admission struct {
	Offered  int `json:"offered"`
	Admitted int `json:"admitted"` // received media
	Refused  int `json:"refused"`  // Refused503 + RefusedRTMP
	// How the refused were told.
	Refused503  int `json:"refused_503"`
	RefusedRTMP int `json:"refused_rtmp"` // connect or play rejected with a status
	// Failed otherwise: timed out, closed without a word.
	OtherFailed int `json:"other_failed"`
	// Of the admitted: their rate over the source's, and how many got
	// under StarvingRatio of it or were dropped after they started.
	ShareP1     float64 `json:"admitted_share_p1"`
	ShareP50    float64 `json:"admitted_share_p50"`
	Starving    int     `json:"admitted_starving"`
	StarvingPct float64 `json:"admitted_starving_pct"`
}

// admissionOf sums up the clients of a step as its summary s judged them:
// the admitted are the clients that received media, the ones whose rate
// s.BitrateP1 and P50 are of.
func admissionOf(clients []ClientResult, s *Summary) Admission {
	a := Admission{Offered: len(clients)}
	for _, c := range clients {
		switch {
		case c.FirstMediaMS != nil:
			a.Admitted++
			if c.Failed || c.Starving {
				a.Starving++
			}
		case isRefusal503(c.FailReason):
			a.Refused503++
		case isRefusalRTMP(c.FailReason):
			a.RefusedRTMP++
		case c.Failed:
			a.OtherFailed++
		}
	}
	a.Refused = a.Refused503 + a.RefusedRTMP
	if s.SourceBPS > 0 {
		a.ShareP1, a.ShareP50 = s.BitrateP1/s.SourceBPS, s.BitrateP50/s.SourceBPS
	}
	if a.Admitted > 0 {
		a.StarvingPct = 100 * float64(a.Starving) / float64(a.Admitted)
	}
	return a
}

// isRefusal503 and isRefusalRTMP read the reasons that reason() writes:
// "play: HTTP 503 Service Unavailable: ..." and "...refused: <status>".
func isRefusal503(r string) bool  { return strings.Contains(r, "HTTP 503") }
func isRefusalRTMP(r string) bool { return strings.Contains(r, "refused: ") }

// String is the admission in one line.
func (a Admission) String() string {
	return fmt.Sprintf("offered %d, admitted %d, refused %d (503: %d, RTMP reject: %d), other failures %d; "+
		"admitted players' rate / source p1 %.2f p50 %.2f, %d (%.1f%%) of them starving",
		a.Offered, a.Admitted, a.Refused, a.Refused503, a.RefusedRTMP, a.OtherFailed,
		a.ShareP1, a.ShareP50, a.Starving, a.StarvingPct)
}

// writeAdmission prints a past-capacity step's verdict: admitted players
// keep StarvingRatio of the rate, which is the point of refusing the rest.
func writeAdmission(w io.Writer, a Admission) {
	verdict := "admitted players kept the rate"
	switch {
	case a.Admitted == 0:
		verdict = "no player was admitted"
	case a.ShareP1 < StarvingRatio || a.StarvingPct > 1:
		verdict = fmt.Sprintf("admitted players did NOT keep %.0f%% of the rate", 100*StarvingRatio)
	}
	fmt.Fprintf(w, "past capacity: %s\n  %s\n", a, verdict)
}

// admissionActions are the balancer's decisions that open and close the
// server to new players, as its log names them.
var admissionActions = map[string]bool{"writer_full": true, "writer_ok": true, "hot": true, "cool": true,
	"host_full": true, "host_ok": true}

// decisionLog keeps the server's admission decisions from its log, so a
// past-capacity step can say when the server closed, at how many players
// and why, and whether it opened again while overloaded.
type decisionLog struct {
	mu    sync.Mutex
	lines []decision
}

type decision struct {
	At     time.Time
	Action string
	Detail string
}

// add is a ServerOptions.OnLog.
func (l *decisionLog) add(line map[string]any) {
	action, _ := line["action"].(string)
	if line["msg"] != "balance decision" || !admissionActions[action] {
		return
	}
	detail, _ := line["detail"].(string)
	at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(line["time"]))
	l.mu.Lock()
	l.lines = append(l.lines, decision{At: at, Action: action, Detail: clip(detail, 200)})
	l.mu.Unlock()
}

// since is the decisions from start on, as lines with seconds from start.
func (l *decisionLog) since(start time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, d := range l.lines {
		if !d.At.Before(start) {
			out = append(out, fmt.Sprintf("%+6.1fs %s: %s", d.At.Sub(start).Seconds(), d.Action, d.Detail))
		}
	}
	return out
}

// clip cuts s to at most n bytes: a server's log is not the bench's to trust.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
