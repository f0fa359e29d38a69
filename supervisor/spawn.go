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

// spawn starts a worker for slot s on socks and the goroutines that turn
// its messages and its exit into events.
func (m *Master) spawn(s *slot, socks *slotSockets) (*workerProc, error) {
	conn, workerEnd, err := ipc.Socketpair()
	if err != nil {
		return nil, fmt.Errorf("ipc socketpair: %w", err)
	}
	defer workerEnd.Close() // the child has its own copy once started
	cmd := exec.Command(m.exe, "worker", "-slot", strconv.Itoa(s.index))
	names, files := []string{"ipc"}, []*os.File{workerEnd}
	for _, so := range socks.list {
		names, files = append(names, so.name), append(files, so.file)
	}
	cmd.ExtraFiles = files
	cmd.Env = append(os.Environ(), ipc.EnvFDs+"="+ipc.FormatFDs(names, 3))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// The backstop for orphans: the kernel kills the worker when we die,
	// even by SIGKILL, before it notices EOF on the IPC socket.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	m.gen++
	p := &workerProc{gen: m.gen, slot: s.index, cmd: cmd, pid: cmd.Process.Pid, conn: conn, state: StateStarting, started: time.Now()}
	m.procs[p.gen] = p
	m.log.Info("worker started", "worker", s.index, "pid", p.pid, "restarts", s.restarts)
	go func() {
		for {
			msg, err := conn.Receive()
			if err != nil {
				m.events <- ipcClosed{gen: p.gen, err: err}
				return
			}
			m.events <- workerMessage{gen: p.gen, msg: msg}
		}
	}()
	go func() {
		err := cmd.Wait()
		conn.Close()
		m.events <- workerExited{gen: p.gen, err: err}
	}()
	return p, nil
}

// Events the worker goroutines send to the master loop.
type (
	workerMessage struct {
		gen uint64
		msg ipc.Message
	}
	ipcClosed struct {
		gen uint64
		err error
	}
	workerExited struct {
		gen uint64
		err error
	}
)
