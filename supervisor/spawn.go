package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"streamedge/ipc"
)

// spawn starts a worker in s and the goroutines that turn its messages and
// its exit into events.
func (m *Master) spawn(s *slot) error {
	conn, workerEnd, err := ipc.Socketpair()
	if err != nil {
		return fmt.Errorf("ipc socketpair: %w", err)
	}
	defer workerEnd.Close() // the child has its own copy once started
	cmd := exec.Command(m.exe, "worker", "-slot", strconv.Itoa(s.index))
	cmd.ExtraFiles = []*os.File{workerEnd, s.sockets.rtmpFile, s.sockets.httpFile}
	cmd.Env = append(os.Environ(), ipc.EnvFDs+"="+ipc.FormatFDs([]string{"ipc", "rtmp", "http"}, 3))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// The backstop for orphans: the kernel kills the worker when we die,
	// even by SIGKILL, before it notices EOF on the IPC socket.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return fmt.Errorf("start worker: %w", err)
	}
	m.gen++
	p := &workerProc{gen: m.gen, cmd: cmd, pid: cmd.Process.Pid, conn: conn, state: StateStarting, started: time.Now()}
	s.proc = p
	m.log.Info("worker started", "worker", s.index, "pid", p.pid, "restarts", s.restarts)
	go func() {
		for {
			msg, err := conn.Receive()
			if err != nil {
				m.events <- ipcClosed{slot: s.index, gen: p.gen, err: err}
				return
			}
			m.events <- workerMessage{slot: s.index, gen: p.gen, msg: msg}
		}
	}()
	go func() {
		err := cmd.Wait()
		conn.Close()
		m.events <- workerExited{slot: s.index, gen: p.gen, err: err}
	}()
	return nil
}

// Events the worker goroutines send to the master loop.
type (
	workerMessage struct {
		slot int
		gen  uint64
		msg  ipc.Message
	}
	ipcClosed struct {
		slot int
		gen  uint64
		err  error
	}
	workerExited struct {
		slot int
		gen  uint64
		err  error
	}
)
