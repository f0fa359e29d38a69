package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRenderNginxConfig(t *testing.T) {
	good := nginxConfig{Module: "/usr/lib/nginx/modules/ngx_rtmp_module.so", Dir: "/tmp/cmp", Port: 19350, Connections: 2064}
	conf, err := renderNginxConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n",
		"daemon off;\nmaster_process on;\nworker_processes 1;\n", // the bench's child: a master and one worker
		"worker_rlimit_nofile 2128;\n",
		"pid /tmp/cmp/nginx.pid;\nerror_log /tmp/cmp/error.log warn;\n",
		"    worker_connections 2064;\n",
		"        listen 127.0.0.1:19350;\n", // loopback only
		"        application bench {\n            live on;\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Count(conf, "{") != strings.Count(conf, "}") {
		t.Errorf("unbalanced braces:\n%s", conf)
	}

	bad := []struct {
		name string
		edit func(*nginxConfig)
		want string
	}{
		{"relative module", func(c *nginxConfig) { c.Module = "ngx_rtmp_module.so" }, "not absolute"},
		{"relative prefix", func(c *nginxConfig) { c.Dir = "cmp" }, "not absolute"},
		{"a space in the prefix", func(c *nginxConfig) { c.Dir = "/tmp/my dir" }, "must not hold spaces"},
		{"a directive smuggled in", func(c *nginxConfig) { c.Dir = "/tmp/x;user root" }, "must not hold spaces"},
		{"port 0", func(c *nginxConfig) { c.Port = 0 }, "port 0 is out of range"},
		{"port too big", func(c *nginxConfig) { c.Port = 70000 }, "out of range"},
		{"no connections", func(c *nginxConfig) { c.Connections = 0 }, "worker_connections 0"},
	}
	for _, tt := range bad {
		c := good
		tt.edit(&c)
		if _, err := renderNginxConfig(c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}

func requireNginx(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx not installed (make deps installs nginx-light and libnginx-mod-rtmp)")
	}
	if _, err := os.Stat(NginxRTMPModule); err != nil {
		t.Skip("nginx RTMP module not installed (make deps installs libnginx-mod-rtmp)")
	}
}

// Stopping nginx leaves neither its master nor its worker.
func TestNginxStartStop(t *testing.T) {
	requireNginx(t)
	n, err := StartNginx(context.Background(), "nginx", NginxRTMPModule, t.TempDir(), 64, Pinning{})
	if err != nil {
		t.Fatal(err)
	}
	workers := waitChildren(t, n.Pid)
	if cpu, err := n.CPU(); err != nil || cpu < 0 {
		t.Errorf("CPU = %v, %v", cpu, err)
	}
	if err := n.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	for _, pid := range append(workers, n.Pid) {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("nginx process %d is still there after Stop (%v)", pid, err)
		}
	}
}

func TestStartNginxMissing(t *testing.T) {
	_, err := StartNginx(context.Background(), "/nonexistent/nginx", NginxRTMPModule, t.TempDir(), 64, Pinning{})
	if err == nil || !strings.Contains(err.Error(), "make deps installs") {
		t.Errorf("a missing nginx: %v, want the hint to make deps", err)
	}
	requireNginx(t)
	_, err = StartNginx(context.Background(), "nginx", "/nonexistent/ngx_rtmp_module.so", t.TempDir(), 64, Pinning{})
	if err == nil || !strings.Contains(err.Error(), "libnginx-mod-rtmp") {
		t.Errorf("a missing module: %v, want the hint to install it", err)
	}
}

// waitChildren waits until pid has started a child (nginx's master forks
// its worker after it listens) and returns them.
func waitChildren(t *testing.T, pid int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		kids, err := childPids(pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(kids) > 0 {
			return kids
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d started no child within 10 s", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling /proc: there is no event to wait on
	}
}
