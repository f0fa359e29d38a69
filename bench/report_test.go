package bench

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

const chromium = "/usr/bin/chromium"

// TestReportInChromium writes the report of a real run and opens it in
// headless Chromium: the page's script must run without errors and draw
// every chart with data. The script records both in <body> attributes, so
// the DOM dump proves it ran.
func TestReportInChromium(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: the HTML report is checked in headless Chromium; run `make test`, "+
			"which installs it (apt-get install -y chromium)", chromium)
	}
	srv := pacedFLVServer(t, 1e6)
	cpu := Probe{Name: "server_cpu_s", Read: func() (float64, error) { return selfCPU().Seconds(), nil }}
	res, err := Play(context.Background(), PlayConfig{URL: srv.URL + "/live/{i%3}.flv", Clients: 6, Ramp: 10,
		Duration: 3 * time.Second, Timeout: 2 * time.Second, Bitrate: 1e6, Probes: []Probe{cpu}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := writeFile(path, func(w io.Writer) error { return WriteReport(w, res) }); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+path)
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	body := regexp.MustCompile(`<body[^>]*>`).Find(dom)
	if body == nil {
		t.Fatalf("no <body> in the DOM dump:\n%.2000s", dom)
	}
	if m := regexp.MustCompile(`data-js-errors="([^"]*)"`).FindSubmatch(body); m != nil {
		t.Errorf("script errors in the report: %s", m[1])
	}
	m := regexp.MustCompile(`data-charts-ok="(\d+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("the report's script did not finish: %s", body)
	}
	// Six line series (started, playing, Mbit/s, stalls, errors,
	// reconnects) plus server CPU, a point per sample each, and the bars of
	// the two histograms.
	points, _ := strconv.Atoi(string(m[1]))
	want := 7*len(res.Timeline) + len(res.Summary.StartupHis) + 8
	if points != want {
		t.Errorf("the charts drew %d points, want %d", points, want)
	}
	for _, id := range []string{"chart-clients", "chart-mbps", "chart-events", "chart-cpu", "chart-startup", "chart-bitrate"} {
		if !regexp.MustCompile(`id="` + id + `"><svg`).Match(dom) {
			t.Errorf("chart %s has no SVG", id)
		}
	}
}
