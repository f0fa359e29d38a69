package ipc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv makes the test binary play a worker (tableflip's trick): the
// real exec, ExtraFiles and environment, with no streamedge worker needed.
const childEnv = "STREAMEDGE_IPC_TEST_CHILD"

// Exit codes of the child, so the parent can tell how it ended.
const (
	childQuit       = 0 // told to quit
	childMasterGone = 3 // read EOF: the master is gone
	childFailed     = 4
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := child(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(childFailed)
		}
		os.Exit(childQuit)
	}
	os.Exit(m.Run())
}

var errMasterGone = errors.New("master gone")

// child is a worker in miniature: adopt the inherited files by name, say
// hello, say ready with the note the master left in a pipe, echo every
// message until told to quit, and exit when the master goes away.
func child() error {
	files, err := InheritedFiles()
	if err != nil {
		return err
	}
	for name, f := range files {
		flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			return fmt.Errorf("%s is not close-on-exec (%v)", name, err)
		}
	}
	conn, err := FileConn(files["ipc"])
	if err != nil {
		return err
	}
	defer conn.Close()
	note, err := bufio.NewReader(files["note"]).ReadString('\n')
	if err != nil {
		return fmt.Errorf("note: %w", err)
	}
	if err := conn.Send(&Hello{Version: "test", Slot: 1, PID: os.Getpid(), GOMAXPROCS: 1}); err != nil {
		return err
	}
	if err := conn.Send(&Ready{RelayAddr: note[:len(note)-1]}); err != nil {
		return err
	}
	for {
		m, err := conn.Receive()
		if err == io.EOF {
			os.Exit(childMasterGone)
		}
		if err != nil {
			return err
		}
		if c, ok := m.(*Command); ok && c.Name == CmdQuit {
			return nil
		}
		if err := conn.Send(m); err != nil {
			return err
		}
	}
}

// startChild starts the test binary as a worker on a fresh socket pair, the
// way the master will.
func startChild(t *testing.T) (*Conn, *exec.Cmd, *bytes.Buffer) {
	t.Helper()
	master, end, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.ExtraFiles = []*os.File{end, pr}
	cmd.Env = append(os.Environ(), childEnv+"=1", EnvFDs+"="+FormatFDs([]string{"ipc", "note"}, 3))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	// The child has its copies; the master's must go, or it never sees EOF.
	end.Close()
	pr.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	fmt.Fprintln(pw, "note")
	return master, cmd, &stderr
}

// TestChildProcess is the whole life of a worker's channel across a real
// exec: hello, ready, messages both ways, quit, and EOF after the exit.
func TestChildProcess(t *testing.T) {
	master, cmd, stderr := startChild(t)
	m, err := receiveWithin(t, master, 10*time.Second)
	if err != nil {
		t.Fatalf("no hello: %v (child: %s)", err, stderr)
	}
	if h, ok := m.(*Hello); !ok || h.PID != cmd.Process.Pid || h.Slot != 1 {
		t.Fatalf("first message %#v, want a Hello from pid %d", m, cmd.Process.Pid)
	}
	m, err = receiveWithin(t, master, 10*time.Second)
	if r, ok := m.(*Ready); err != nil || !ok || r.RelayAddr != "note" {
		t.Fatalf("second message %#v, %v; want Ready with the note read from fd \"note\"", m, err)
	}
	for _, tt := range messages {
		if err := master.Send(tt.msg); err != nil {
			t.Fatal(err)
		}
		got, err := receiveWithin(t, master, 10*time.Second)
		if err != nil || !reflect.DeepEqual(got, tt.msg) {
			t.Fatalf("%s echoed as %#v, %v (child: %s)", tt.name, got, err, stderr)
		}
	}
	if err := master.Send(&Command{Name: CmdQuit, Reason: "test over"}); err != nil {
		t.Fatal(err)
	}
	if _, err := receiveWithin(t, master, 10*time.Second); err != io.EOF {
		t.Errorf("after the child quit: %v, want io.EOF", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("child: %v (%s)", err, stderr)
	}
}

// TestChildSeesMasterGone: a worker reads EOF when the master's end closes,
// so it can drain and exit instead of living on as an orphan.
func TestChildSeesMasterGone(t *testing.T) {
	master, cmd, stderr := startChild(t)
	for range 2 { // Hello, Ready: the child is in its receive loop
		if _, err := receiveWithin(t, master, 10*time.Second); err != nil {
			t.Fatalf("%v (child: %s)", err, stderr)
		}
	}
	master.Close()
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != childMasterGone {
		t.Fatalf("child ended with %v, want exit %d (child: %s)", err, childMasterGone, stderr)
	}
}
