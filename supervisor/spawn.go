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

// Process is a started worker as the master sees it. It is the seam
// between the master's event handling and the OS (tableflip's env): the
// master starts workers through Options.StartWorker, and tests start fakes.
type Process interface {
	Pid() int
	// Send delivers a message to the worker; Receive returns its next
	// message, and an error once the channel is gone (io.EOF when the
	// worker closed it or died).
	Send(ipc.Message) error
	Receive() (ipc.Message, error)
	Kill() error
	// Exited delivers one value when the process is gone: nil for a clean
	// exit, else why it ended.
	Exited() <-chan error
}

// WorkerFile is a socket a worker inherits, by the name it asks for.
type WorkerFile struct {
	Name string
	File *os.File
}

// StartFunc starts the worker of slot with the sockets it inherits.
type StartFunc func(slot int, files []WorkerFile) (Process, error)

// ExecStart is the StartFunc that runs exe as `streamedge worker -slot N`,
// with the IPC socket and files inherited by name (ipc.EnvFDs).
func ExecStart(exe string) StartFunc {
	return func(slot int, files []WorkerFile) (Process, error) {
		conn, workerEnd, err := ipc.Socketpair()
		if err != nil {
			return nil, fmt.Errorf("ipc socketpair: %w", err)
		}
		defer workerEnd.Close() // the child has its own copy once started
		names, extra := []string{"ipc"}, []*os.File{workerEnd}
		for _, f := range files {
			names, extra = append(names, f.Name), append(extra, f.File)
		}
		cmd := exec.Command(exe, "worker", "-slot", strconv.Itoa(slot))
		cmd.ExtraFiles = extra
		cmd.Env = append(os.Environ(), ipc.EnvFDs+"="+ipc.FormatFDs(names, 3))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		// The backstop for orphans: the kernel kills the worker when we die,
		// even by SIGKILL, before it notices EOF on the IPC socket.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("start worker: %w", err)
		}
		p := &execProcess{cmd: cmd, Conn: conn, exited: make(chan error, 1)}
		go func() {
			err := cmd.Wait()
			conn.Close()
			p.exited <- err
		}()
		return p, nil
	}
}

// execProcess is a worker process the master started.
type execProcess struct {
	*ipc.Conn
	cmd    *exec.Cmd
	exited chan error
}

func (p *execProcess) Pid() int             { return p.cmd.Process.Pid }
func (p *execProcess) Kill() error          { return p.cmd.Process.Kill() }
func (p *execProcess) Exited() <-chan error { return p.exited }

var _ Process = (*execProcess)(nil)

// spawn starts a worker for slot s on socks and the goroutines that turn
// its messages and its exit into events.
func (m *Master) spawn(s *slot, socks *slotSockets) (*workerProc, error) {
	var files []WorkerFile
	for _, so := range socks.list {
		files = append(files, WorkerFile{Name: so.name, File: so.file})
	}
	proc, err := m.opts.StartWorker(s.index, files)
	if err != nil {
		return nil, err
	}
	m.gen++
	p := &workerProc{gen: m.gen, slot: s.index, proc: proc, pid: proc.Pid(), state: StateStarting, started: m.now()}
	m.procs[p.gen] = p
	m.log.Info("worker started", "worker", s.index, "pid", p.pid, "restarts", s.restarts)
	go func() {
		for {
			msg, err := proc.Receive()
			if err != nil {
				m.post(ipcClosed{gen: p.gen, err: err})
				return
			}
			m.post(workerMessage{gen: p.gen, msg: msg})
		}
	}()
	go func() { m.post(workerExited{gen: p.gen, err: <-proc.Exited()}) }()
	return p, nil
}

// post hands an event to the master loop, or drops it once the loop is over.
func (m *Master) post(ev any) {
	select {
	case m.events <- ev:
	case <-m.done:
	}
}

// clock is the master's time: the real one, or a test's that it moves.
type clock interface {
	now() time.Time
	// after runs fn on the master loop once d has passed.
	after(d time.Duration, fn func())
}

type realClock struct{ m *Master }

func (realClock) now() time.Time { return time.Now() }

func (c realClock) after(d time.Duration, fn func()) {
	time.AfterFunc(d, func() { c.m.post(func(*Master) { fn() }) })
}

func (m *Master) now() time.Time                   { return m.clock.now() }
func (m *Master) after(d time.Duration, fn func()) { m.clock.after(d, fn) }

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
