package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
)

// The timeline's samples of the busy time of the pinned cores.
const (
	serverCoresProbe = "server_cores_busy_s"
	clientCoresProbe = "client_cores_busy_s"
)

// coresProbes samples the busy time of each side's cores; none unpinned.
func coresProbes(pin Pinning) []Probe {
	if len(pin.Client) == 0 || len(pin.Server) == 0 {
		return nil
	}
	probe := func(name string, cpus CPUList) Probe {
		return Probe{Name: name, Read: func() (float64, error) {
			d, err := coresBusy(cpus)
			return d.Seconds(), err
		}}
	}
	return []Probe{probe(serverCoresProbe, pin.Server), probe(clientCoresProbe, pin.Client)}
}

// coresPct is how busy n cores were between two samples, in percent of
// all n.
func coresPct(a, b Sample, probe string, n int) float64 {
	va, okA := a.Probes[probe]
	vb, okB := b.Probes[probe]
	if !okA || !okB || n == 0 || b.T <= a.T || vb < va {
		return 0
	}
	return 100 * (vb - va) / (b.T - a.T) / float64(n)
}

// busyPct prints a percentage, "-" for none.
func busyPct(v float64) string {
	if v <= 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + "%"
}

// Apply pins this process, the load client, to its CPUs and checks that it
// took: after it, every thread of the bench is on pin.Client. A thread the
// runtime starts while the threads are being pinned may come from one not
// yet pinned, so it goes over them again until none is left out. undo sets
// the session's autogroup nice back (see setAutogroupNice).
func (p Pinning) Apply() (undo func(), err error) {
	undo = func() {}
	if err := p.check(); err != nil {
		return undo, err
	}
	if len(p.Client) == 0 && p.Nice == 0 {
		return undo, nil
	}
	if undo, err = setAutogroupNice(autogroupFile, p.Nice); err != nil {
		return undo, err
	}
	var a Affinity
	for range 10 {
		if err := pinSelf(p); err != nil {
			return undo, err
		}
		if len(p.Client) == 0 {
			return undo, nil
		}
		if a, err = pidsAffinity([]int{os.Getpid()}); err != nil {
			return undo, err
		}
		if !a.Mixed && a.CPUs == p.Client.String() {
			return undo, nil
		}
	}
	return undo, fmt.Errorf("pinned the bench to CPUs %s, but its threads have %s", p.Client, a)
}

// writePinningHead says in a table's head where the server and the load
// client run.
func writePinningHead(w io.Writer, p Pinning) {
	nice := ""
	if p.Nice != 0 {
		nice = fmt.Sprintf(", both at nice %d", p.Nice)
	}
	if len(p.Server) == 0 && len(p.Client) == 0 {
		fmt.Fprintf(w, "not pinned: the server and the load client share this machine's %d cores%s\n", runtime.NumCPU(), nice)
		return
	}
	fmt.Fprintf(w, "pinned: server on CPUs %s, load client (players and publisher) on CPUs %s with GOMAXPROCS %d, of this machine's %d%s\n",
		orAll(p.Server), orAll(p.Client), runtime.GOMAXPROCS(0), runtime.NumCPU(), nice)
}

func orAll(l CPUList) string {
	if len(l) == 0 {
		return "any"
	}
	return l.String()
}

// affinityRow is what the affinity notes read of a step.
type affinityRow struct {
	label          string
	server, client *Affinity
}

// writeAffinityNote prints the affinity read back at the end of the steps
// or cells, once when all agree with the pinning and row by row when not.
func writeAffinityNote(w io.Writer, p Pinning, steps []StepResult) {
	rows := make([]affinityRow, len(steps))
	for i, s := range steps {
		rows[i] = affinityRow{strconv.Itoa(s.Players) + " players", s.ServerAffinity, s.ClientAffinity}
	}
	writeAffinityRows(w, p, rows)
}

func writeAffinityRows(w io.Writer, p Pinning, rows []affinityRow) {
	if len(p.Server) == 0 && len(p.Client) == 0 {
		return
	}
	ok := len(rows) > 0
	for _, r := range rows {
		ok = ok && affinityHolds(r.server, p.Server) && affinityHolds(r.client, p.Client)
	}
	if ok {
		fmt.Fprintf(w, "affinity read back from /proc at the end of each: every server thread on %s (last: %s), every bench thread on %s (last: %s)\n",
			orAll(p.Server), affinityText(rows[len(rows)-1].server), orAll(p.Client), affinityText(rows[len(rows)-1].client))
		return
	}
	for _, r := range rows {
		fmt.Fprintf(w, "affinity at the end of %s: server %s, bench %s (wanted %s and %s)\n",
			r.label, affinityText(r.server), affinityText(r.client), orAll(p.Server), orAll(p.Client))
	}
}

func affinityText(a *Affinity) string {
	if a == nil {
		return "unknown"
	}
	return a.String()
}

// affinityHolds says whether every thread read back is on want (when the
// side was pinned at all).
func affinityHolds(a *Affinity, want CPUList) bool {
	if len(want) == 0 {
		return true
	}
	return a != nil && !a.Mixed && a.CPUs == want.String()
}
