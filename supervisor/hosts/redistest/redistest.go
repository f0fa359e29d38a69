// Package redistest runs Debian's redis-server for tests: on a unix
// socket in the test's directory or on a given TCP address, with no
// persistence, stopped (and its files removed) when the test ends.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server process.
type Server struct {
	t      testing.TB
	args   []string
	prefix []string
	// URL is what hosts.redis takes to reach it.
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs redis-server on a unix socket in a temporary directory; the
// test skips when redis-server is not installed.
func Start(t testing.TB) *Server {
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	return StartWith(t, Options{Dir: dir, URL: "unix://" + sock, Args: []string{"--port", "0", "--unixsocket", sock}})
}

// Options say where a server runs.
type Options struct {
	Dir    string   // its working directory
	URL    string   // how clients reach it, for Server.URL
	Args   []string // after the test defaults (no persistence)
	Prefix []string // a command it runs under, such as ip netns exec NS
}

// StartWith runs redis-server as o says.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (make deps installs it): ", err)
	}
	s := &Server{t: t, URL: o.URL, prefix: o.Prefix,
		args: append([]string{"--save", "", "--appendonly", "no", "--dir", o.Dir, "--loglevel", "notice"}, o.Args...)}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again after Kill (the same address and
// arguments, an empty data set), and waits until it accepts connections.
func (s *Server) Restart() {
	s.t.Helper()
	argv := append(append([]string{}, s.prefix...), "redis-server")
	argv = append(argv, s.args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatal("redis-server: ", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	ready := make(chan struct{})
	var log strings.Builder
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if log.Len() < 8192 {
				log.WriteString(sc.Text() + "\n")
			}
			if !signalled && strings.Contains(strings.ToLower(sc.Text()), "ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		io.Copy(io.Discard, out)
		cmd.Wait()
	}()
	select {
	case <-ready:
	case <-s.done:
		s.t.Fatalf("redis-server exited at start:\n%s", log.String())
	case <-time.After(10 * time.Second):
		s.Kill()
		s.t.Fatalf("redis-server not ready in 10s:\n%s", log.String())
	}
}

// Kill ends the server at once, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Stop is Kill for t.Cleanup.
func (s *Server) Stop() { s.Kill() }

// String names the server in messages.
func (s *Server) String() string { return fmt.Sprintf("redis-server at %s", s.URL) }
