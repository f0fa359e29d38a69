package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"streamedge/media/mediatest"
)

// TestConsolePage: headless Chromium loads /console/ of a -w 2 server with
// a publisher and players; the page's script runs without errors and fills
// the worker, stream and client tables from the API. A screenshot is kept
// in $STREAMEDGE_ARTIFACTS (default: the OS temp dir) for a person to look at.
func TestConsolePage(t *testing.T) {
	heavy(t)
	mediatest.RequireFFmpeg(t)
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("chromium is not installed (make deps installs it)")
	}
	s := startServer(t, "workers: 2\n")
	publishFFmpeg(t, s, "console")
	for range 2 {
		p := waitPlayable(t, playFLV, s.flvURL("console"))
		defer p.close()
	}
	url := "http://" + s.api + "/console/"
	run := func(args ...string) (stdout, stderr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "chromium", append([]string{"--headless", "--no-sandbox", "--disable-gpu",
			"--no-first-run", "--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
			"--virtual-time-budget=6000", "--window-size=1400,1100"}, append(args, url)...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
		}
		return out.String(), errb.String()
	}
	dom, logs := run("--dump-dom")
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "Uncaught") || (strings.Contains(line, "CONSOLE") && strings.Contains(line, "rror")) {
			t.Errorf("script error in the console page: %s", line)
		}
	}
	if !strings.Contains(dom, `data-loaded="1"`) {
		t.Fatalf("the page never finished a refresh:\n%s", dom)
	}
	section := func(id string) string {
		i := strings.Index(dom, `id="`+id+`"`)
		if i < 0 {
			t.Fatalf("no table %s in the page", id)
		}
		j := strings.Index(dom[i:], "</table>")
		return dom[i : i+j]
	}
	if n := strings.Count(section("workers"), "state-ready"); n != 2 {
		t.Errorf("worker table shows %d ready workers, want 2:\n%s", n, section("workers"))
	}
	if !strings.Contains(section("streams"), "live/console") {
		t.Errorf("stream table lacks live/console:\n%s", section("streams"))
	}
	if n := strings.Count(section("clients"), "flv_play"); n != 2 {
		t.Errorf("client table shows %d flv players, want 2", n)
	}
	if n := strings.Count(section("clients"), ">kick<"); n != 3 {
		t.Errorf("client table has %d kick buttons, want one per publisher and player (3), none for relays", n)
	}

	dir := os.Getenv("STREAMEDGE_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	shot := filepath.Join(dir, "streamedge-console.png")
	run("--screenshot=" + shot)
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v (size %v)", shot, err, st)
	}
	t.Logf("console screenshot: %s", shot)
}
