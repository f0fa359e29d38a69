package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverStartTimeout bounds how long a started server may take to listen.
const serverStartTimeout = 15 * time.Second

// ServerOptions says how to start a streamedge server for a benchmark.
type ServerOptions struct {
	Path      string  // the streamedge binary
	Workers   int     // -w; 0 passes none
	API       bool    // serve the HTTP API on a free loopback port too
	ExtraYAML string  // appended to the config (loopback ports, JSON logs)
	Pin       Pinning // its CPUs (Server) and nice, and its workers'
	// OnLog sees every JSON log line of the server, e.g. to compare its
	// byte counts with the bench's. It runs on the log reader's goroutine.
	OnLog func(line map[string]any)
}

// Server is a streamedge process listening on free loopback ports.
type Server struct {
	RTMP, HTTP string // host:port
	API        string // host:port, when asked for
	Pid        int

	cmd  *exec.Cmd
	dir  string
	done chan struct{}
	err  error // how it exited; set before done closes
	tail *lineTail
}

// StartServer starts the binary on ephemeral loopback ports and returns
// once it listens, with the addresses it reported.
func StartServer(ctx context.Context, opt ServerOptions) (*Server, error) {
	dir, err := os.MkdirTemp("", "streamedge-bench")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "streamedge.yaml")
	api := `""`
	if opt.API {
		api = "127.0.0.1:0"
	}
	yaml := "listen:\n  rtmp: 127.0.0.1:0\n  http: 127.0.0.1:0\n  api: " + api + "\nlog:\n  format: json\n  level: info\n" + opt.ExtraYAML
	if !strings.Contains("\n"+opt.ExtraYAML, "\nbalance:") {
		// The bench shares the host: its own CPU must not make the server
		// refuse players as a full host, or the bench measures itself.
		yaml += "\nbalance:\n  host_cpu_high: 0\n"
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := []string{"-c", cfg}
	if opt.Workers > 0 {
		args = append(args, "-w", strconv.Itoa(opt.Workers))
	}
	s := &Server{dir: dir, done: make(chan struct{}), tail: &lineTail{max: 40}}
	s.cmd = exec.Command(opt.Path, args...)
	// The server must not outlive a bench that is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cmd.Stdout = s.cmd.Stderr
	if err := startPlaced(s.cmd, opt.Pin); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", opt.Path, err)
	}
	s.Pid = s.cmd.Process.Pid
	started := make(chan map[string]any, 1)
	go func() {
		s.readLogs(stderr, opt.OnLog, started)
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.awaitStart(ctx, started); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) readLogs(r io.Reader, onLog func(map[string]any), started chan<- map[string]any) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		s.tail.add(sc.Text())
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if line["msg"] == "streamedge started" {
			select {
			case started <- line:
			default:
			}
		}
		if onLog != nil {
			onLog(line)
		}
	}
	io.Copy(io.Discard, r) // a line over the limit: keep the pipe flowing
}

func (s *Server) awaitStart(ctx context.Context, started <-chan map[string]any) error {
	t := time.NewTimer(serverStartTimeout)
	defer t.Stop()
	select {
	case line := <-started:
		s.RTMP, _ = line["rtmp"].(string)
		s.HTTP, _ = line["http"].(string)
		s.API, _ = line["api"].(string)
		if s.RTMP == "" || s.HTTP == "" {
			return fmt.Errorf("server started without reporting its rtmp and http addresses: %v", line)
		}
		return nil
	case <-s.done:
		return fmt.Errorf("server exited before listening (%v):\n%s", s.err, s.tail)
	case <-t.C:
		return fmt.Errorf("server did not start within %v:\n%s", serverStartTimeout, s.tail)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CPU is the CPU time the server and its workers have used.
func (s *Server) CPU() (time.Duration, error) { return ProcessTreeCPU(s.Pid) }

// Done is closed when the process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop asks the server to quit (SIGTERM), kills it if it has not within a
// few seconds, and removes its config.
func (s *Server) Stop() error {
	defer os.RemoveAll(s.dir)
	s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		s.cmd.Process.Kill()
		<-s.done
	}
	var ee *exec.ExitError
	if s.err != nil && !errors.As(s.err, &ee) {
		return s.err
	}
	return nil
}

// Log is the last lines the server wrote.
func (s *Server) Log() string { return s.tail.String() }

// lineTail keeps the last max lines.
type lineTail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *lineTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == t.max {
		t.lines = t.lines[1:]
	}
	t.lines = append(t.lines, line)
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
