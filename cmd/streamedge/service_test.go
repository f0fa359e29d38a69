package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"streamedge/media/mediatest"
)

// The master speaks systemd's notify protocol: READY=1 once the workers
// serve, RELOADING=1 then READY=1 around a reload, STOPPING=1 on quit.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := startServerWith(t, serverOptions{env: []string{"NOTIFY_SOCKET=" + sock}}, "workers: 2\n")
	next := func(want string) {
		t.Helper()
		pc.SetReadDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 4096)
		for {
			n, err := pc.Read(b)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if strings.HasPrefix(string(b[:n]), want) {
				return
			}
			t.Logf("notify: %q", b[:n])
		}
	}
	next("READY=1")
	s.reload("workers: 2\n")
	next("RELOADING=1\nMONOTONIC_USEC=")
	next("READY=1")
	s.cmd.Process.Signal(syscall.SIGQUIT)
	next("STOPPING=1")
}

// The unit file systemd would load is valid (where systemd is installed).
func TestSystemdUnitVerifies(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: cannot verify configs/streamedge.service")
	}
	unit, err := os.ReadFile("../../configs/streamedge.service")
	if err != nil {
		t.Fatal(err)
	}
	// The unit names the installed paths; point them at the test binary.
	dir := t.TempDir()
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/streamedge", binary)
	path := filepath.Join(dir, "streamedge.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// verify also complains about unrelated units of the host; only lines
	// about ours count.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "streamedge.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
	if err != nil && !strings.Contains(string(out), "streamedge.service") {
		t.Logf("systemd-analyze exited %v (about other units): %s", err, out)
	}
}

// Every example config passes -t.
func TestExampleConfigsPassDashT(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../configs/*.yaml")
	if len(files) < 3 {
		t.Fatalf("example configs: %v, want default, standalone, edge, origin", files)
	}
	for _, f := range files {
		out, err := exec.Command(binary, "-t", "-c", f).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "successful") {
			t.Errorf("streamedge -t -c %s: %v\n%s", filepath.Base(f), err, out)
		}
	}
}

// Every metric the Grafana dashboard queries is in a real scrape of a
// server with a publisher and a player.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	raw, err := os.ReadFile("../../configs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
		Templating struct{ List []struct{ Query any } }
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	names := map[string]bool{}
	metric := regexp.MustCompile(`\b(srs|streamedge)_[a-z_]+`)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range metric.FindAllString(tg.Expr, -1) {
				names[n] = true
			}
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok {
			for _, n := range metric.FindAllString(q, -1) {
				names[n] = true
			}
		}
	}
	if len(names) < 8 {
		t.Fatalf("the dashboard queries only %v", names)
	}
	s := startServer(t, "workers: 2\n")
	publishFFmpeg(t, s, "m")
	player := waitPlayable(t, playFLV, s.flvURL("m"))
	defer player.close()
	// Wait for a scrape that has every name and counts the player: the
	// workers report once a second.
	playerCounted := regexp.MustCompile(`(?m)^srs_clients\{worker="[01]"\} [1-9]`)
	var body string
	var missing []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + s.api + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		missing = missing[:0]
		for n := range names {
			if !regexp.MustCompile(`(?m)^` + n + `[{ ]`).MatchString(body) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 && playerCounted.MatchString(body) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("metrics the dashboard queries but /metrics lacks: %v", missing)
	}
	t.Fatalf("no worker counts the player in srs_clients:\n%s", grepLines(body, "srs_clients"))
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
