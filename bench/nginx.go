package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NginxRTMPModule is where Debian's libnginx-mod-rtmp puts the module
// (`make deps` installs it with nginx-light).
const NginxRTMPModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// nginxConfig is the reference nginx-rtmp that `bench compare` measures
// streamedge against.
type nginxConfig struct {
	Module      string // ngx_rtmp_module.so
	Dir         string // its prefix: the pid file and the error log
	Port        int    // RTMP, on 127.0.0.1
	Connections int    // worker_connections
}

// renderNginxConfig is the whole config: a master and one worker in the
// foreground (the master is the bench's child, so the bench stops it),
// one live application "bench" on loopback, and otherwise nginx-rtmp's
// defaults, since those are what it is usually run with.
func renderNginxConfig(c nginxConfig) (string, error) {
	switch {
	case !filepath.IsAbs(c.Module):
		return "", fmt.Errorf("nginx module path %q is not absolute", c.Module)
	case !filepath.IsAbs(c.Dir):
		return "", fmt.Errorf("nginx prefix %q is not absolute", c.Dir)
	case strings.ContainsAny(c.Module+c.Dir, ";{}\"' \t\n"):
		// Either would end up unquoted in the config.
		return "", fmt.Errorf("nginx paths %q and %q must not hold spaces, quotes, ';' or braces", c.Module, c.Dir)
	case c.Port < 1 || c.Port > 65535:
		return "", fmt.Errorf("nginx port %d is out of range", c.Port)
	case c.Connections < 1 || c.Connections > 1<<20:
		return "", fmt.Errorf("nginx worker_connections %d is out of range", c.Connections)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "load_module %s;\n", c.Module)
	b.WriteString("daemon off;\nmaster_process on;\nworker_processes 1;\n")
	// A descriptor per connection, and a few for the log and the listener.
	fmt.Fprintf(&b, "worker_rlimit_nofile %d;\n", c.Connections+64)
	fmt.Fprintf(&b, "pid %s/nginx.pid;\nerror_log %s/error.log warn;\n", c.Dir, c.Dir)
	fmt.Fprintf(&b, "events {\n    worker_connections %d;\n}\n", c.Connections)
	fmt.Fprintf(&b, "rtmp {\n    server {\n        listen 127.0.0.1:%d;\n", c.Port)
	b.WriteString("        application bench {\n            live on;\n        }\n    }\n}\n")
	return b.String(), nil
}

// nginxStartTimeout bounds how long nginx may take to listen.
const nginxStartTimeout = 10 * time.Second

// Nginx is a running nginx-rtmp: a master (the bench's child) and its worker.
type Nginx struct {
	RTMP string // host:port
	Pid  int    // the master

	cmd  *exec.Cmd
	dir  string
	done chan struct{}
	err  error // how it exited; set before done closes
}

// StartNginx starts nginx-rtmp with a config of its own in dir (which it
// does not remove: the caller owns it) and returns once it listens. nginx
// cannot listen on port 0, so the port is picked free just before; when
// another process takes it first, nginx starts again on another.
func StartNginx(ctx context.Context, bin, module, dir string, connections int, pin Pinning) (*Nginx, error) {
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("nginx not found (%v): make deps installs nginx-light and libnginx-mod-rtmp", err)
	}
	if _, err := os.Stat(module); err != nil {
		return nil, fmt.Errorf("the nginx RTMP module is missing (%v): make deps installs libnginx-mod-rtmp", err)
	}
	var last error
	for range 3 {
		n, err := startNginxOnce(ctx, bin, module, dir, connections, pin)
		if err == nil || ctx.Err() != nil {
			return n, err
		}
		last = err
	}
	return nil, last
}

func startNginxOnce(ctx context.Context, bin, module, dir string, connections int, pin Pinning) (*Nginx, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf, err := renderNginxConfig(nginxConfig{Module: module, Dir: dir, Port: port, Connections: connections})
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(dir, "error.log")) // its tail must be this start's
	n := &Nginx{RTMP: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, done: make(chan struct{})}
	// -e: nginx opens its default error log before it reads the config.
	n.cmd = exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	// Its own process group, so Stop reaches the worker as well; and the
	// master must not outlive a bench that is killed.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := startPlaced(n.cmd, pin); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	n.Pid = n.cmd.Process.Pid
	go func() {
		n.err = n.cmd.Wait()
		close(n.done)
	}()
	if err := n.awaitListen(ctx); err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

// awaitListen polls the port: nginx has no readiness signal.
func (n *Nginx) awaitListen(ctx context.Context) error {
	deadline := time.NewTimer(nginxStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("tcp", n.RTMP, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-n.done:
			return fmt.Errorf("nginx exited before listening (%v):\n%s", n.err, n.Log())
		case <-deadline.C:
			return fmt.Errorf("nginx did not listen on %s within %v:\n%s", n.RTMP, nginxStartTimeout, n.Log())
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// CPU is the CPU time nginx's master and worker have used.
func (n *Nginx) CPU() (time.Duration, error) { return ProcessTreeCPU(n.Pid) }

// Done is closed when the master has exited.
func (n *Nginx) Done() <-chan struct{} { return n.done }

// Stop asks nginx's process group to quit fast (SIGTERM), kills the group
// if the master has not exited within a few seconds, and returns once it
// has. The master exits only after its worker has (it kills one that
// lingers), so nothing of nginx is left. The group is signalled only while
// the master is unreaped, so its id cannot have passed to another process.
func (n *Nginx) Stop() error {
	syscall.Kill(-n.Pid, syscall.SIGTERM)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-n.done:
	case <-t.C:
		syscall.Kill(-n.Pid, syscall.SIGKILL)
		<-n.done
	}
	var ee *exec.ExitError
	if n.err != nil && !errors.As(n.err, &ee) {
		return n.err
	}
	return nil
}

// Log is the end of nginx's error log.
func (n *Nginx) Log() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
