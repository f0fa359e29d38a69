package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The master speaks systemd's notify protocol: READY=1 once the workers
// serve, RELOADING=1 then READY=1 around a reload, STOPPING=1 on quit.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	s := startServer(t, "workers: 2\n")
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
