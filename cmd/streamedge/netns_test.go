package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Hosts of a cluster test are network namespaces: a router namespace with
// a bridge at 198.18.0.1 (198.18.0.0/15 is set aside for benchmarking, so
// it collides with no real network), where Redis and the test's clients
// run, and one namespace per host at 198.18.0.2, .3, ... on a veth pair
// into the bridge. The test re-runs itself inside the router namespace, so
// its ordinary dials, ffmpeg and ffprobe all reach the hosts and nothing
// else; each host's master runs under `ip netns exec`.
const (
	binaryEnv = "STREAMEDGE_E2E_BINARY" // the streamedge under test, built once
	netnsEnv  = "STREAMEDGE_NETNS"      // set inside: router,host1,host2,...
	routerIP  = "198.18.0.1"
)

// hostIP is the address of host i (from 0).
func hostIP(i int) string { return fmt.Sprintf("198.18.0.%d", i+2) }

// netnsHosts is the namespaces the test runs in, when it runs inside.
func netnsHosts() (router string, hosts []string, inside bool) {
	v := os.Getenv(netnsEnv)
	if v == "" {
		return "", nil, false
	}
	parts := strings.Split(v, ",")
	return parts[0], parts[1:], true
}

// runInNamespaces builds the namespaces for n hosts, runs the test named
// name inside the router namespace, and removes every namespace and what
// runs in it when the test ends, passed or not.
func runInNamespaces(t *testing.T, name string, n int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network-namespace hosts need root (ip netns add)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network-namespace hosts need iproute2's ip: ", err)
	}
	prefix := fmt.Sprintf("se%d", os.Getpid())
	router := prefix + "r"
	if out, err := exec.Command("ip", "netns", "add", router).CombinedOutput(); err != nil {
		t.Skipf("ip netns is not permitted here: %v: %s", err, bytes.TrimSpace(out))
	}
	names := []string{router}
	t.Cleanup(func() { removeNamespaces(t, names) })
	ipCmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ipCmd("-n", router, "link", "set", "lo", "up")
	ipCmd("-n", router, "link", "add", "br0", "type", "bridge")
	ipCmd("-n", router, "addr", "add", routerIP+"/24", "dev", "br0")
	ipCmd("-n", router, "link", "set", "br0", "up")
	for i := range n {
		ns := fmt.Sprintf("%sh%d", prefix, i+1)
		ipCmd("netns", "add", ns)
		names = append(names, ns)
		veth := fmt.Sprintf("h%d", i+1)
		ipCmd("-n", router, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		ipCmd("-n", router, "link", "set", veth, "master", "br0", "up")
		ipCmd("-n", ns, "link", "set", "lo", "up")
		ipCmd("-n", ns, "addr", "add", hostIP(i)+"/24", "dev", "eth0")
		ipCmd("-n", ns, "link", "set", "eth0", "up")
	}
	args := []string{"netns", "exec", router, os.Args[0], "-test.run", "^" + name + "$", "-test.v", "-test.count=1",
		"-test.timeout=4m"}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), netnsEnv+"="+strings.Join(names, ","), binaryEnv+"="+binary,
		"GORACE=atexit_sleep_ms=0 halt_on_error=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	err = cmd.Wait()
	// The inner run's own verdicts, so the outer output says what passed.
	for _, l := range lines {
		tl := strings.TrimSpace(l)
		if strings.HasPrefix(tl, "--- ") || (strings.Contains(tl, "_test.go:") && !strings.HasSuffix(tl, " log:")) {
			t.Log(l)
		}
	}
	if err != nil {
		t.Fatalf("inside the namespaces: %v\n%s", err, strings.Join(lines, "\n"))
	}
}

// removeNamespaces kills whatever still runs in the namespaces, then
// deletes them (a namespace with a process in it would outlive ip netns
// del, unseen).
func removeNamespaces(t *testing.T, names []string) {
	for _, ns := range names {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for _, ns := range names {
		deadline := time.Now().Add(5 * time.Second)
		for {
			out, _ := exec.Command("ip", "netns", "pids", ns).Output()
			if len(bytes.TrimSpace(out)) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond) // waiting for killed processes to be reaped
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	}
}

// hostServer runs a streamedge master in namespace ns at address ip, on
// the standard ports (each namespace has ports of its own), with yaml.
func hostServer(t *testing.T, ns, ip, yaml string) *server {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "streamedge.yaml")
	base := fmt.Sprintf("listen:\n  rtmp: %[1]s:1935\n  http: %[1]s:8080\n  api: %[1]s:1985\n", ip)
	// As reload writes it, so a host reloads like any test server.
	if err := os.WriteFile(cfg, []byte(base+logYAML(yaml)+hostCPUOff(yaml)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, logs: &logLines{added: make(chan struct{})}, exited: make(chan struct{}), cfgPath: cfg}
	s.cmd = exec.Command("ip", "netns", "exec", ns, binary, "-c", cfg)
	s.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0 halt_on_error=1")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go s.follow(stderr)
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("%s log:\n%s", ns, s.logs.String())
		}
	})
	s.logs.wait(t, "streamedge started", nil, 15*time.Second)
	s.rtmp, s.http, s.api = ip+":1935", ip+":8080", ip+":1985"
	s.baseCfg = base
	return s
}
