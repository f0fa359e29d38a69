package mediatest

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// stopGrace is how long Stop lets ffmpeg flush and close after SIGINT before
// killing it.
const stopGrace = 3 * time.Second

// stderrLimit caps the captured stderr; a looping publisher that logs an
// error per packet must not grow memory without bound. The tail is kept
// because the last lines usually say why ffmpeg stopped.
const stderrLimit = 64 << 10

// Proc is a running ffmpeg process.
type Proc struct {
	Cmd *exec.Cmd

	stderr tailBuffer
	done   chan struct{}
	err    error // set before done is closed
	once   sync.Once
}

// StartFFmpegPublish starts ffmpeg sending file to url as FLV in real time
// (-re), looping forever if loop is set, e.g. to publish to rtmp:// or to an
// HTTP-FLV ingest. The process is stopped by Stop, by ctx being done, or by
// test cleanup, whichever comes first.
func StartFFmpegPublish(t testing.TB, ctx context.Context, file, url string, loop bool) *Proc {
	t.Helper()
	RequireFFmpeg(t)
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-re"}
	if loop {
		args = append(args, "-stream_loop", "-1")
	}
	args = append(args, "-i", file, "-c", "copy", "-f", "flv", url)

	p := &Proc{done: make(chan struct{})}
	p.Cmd = exec.CommandContext(ctx, "ffmpeg", args...)
	p.Cmd.Stderr = &p.stderr
	// On cancellation, ask ffmpeg to finish like Stop does instead of the
	// default SIGKILL, so the receiving side sees a clean end of stream.
	p.Cmd.Cancel = func() error { return p.Cmd.Process.Signal(os.Interrupt) }
	p.Cmd.WaitDelay = stopGrace
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("mediatest: starting ffmpeg %q: %v", args, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.Stop)
	return p
}

// Stderr returns what ffmpeg has written to stderr so far (at most the last
// 64 KiB).
func (p *Proc) Stderr() string { return p.stderr.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err returns the process's exit error once Done is closed, nil before.
// After Stop, an error caused by the interrupt itself is to be expected.
func (p *Proc) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Stop interrupts ffmpeg, kills it if it has not exited within 3s, and
// waits for it. It is safe to call more than once and after exit.
func (p *Proc) Stop() {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.Cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = p.Cmd.Process.Kill()
		}
	})
	<-p.done
}

// tailBuffer is an io.Writer safe for concurrent use that keeps only the
// last stderrLimit bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - stderrLimit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
