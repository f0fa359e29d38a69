package bench

import (
	"fmt"
	"io"
	"os"
)

// progress prints the once-a-second line: rewritten in place on a terminal,
// one line per second anywhere else (a log file must stay readable).
type progress struct {
	w     io.Writer
	tty   bool
	wrote bool
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) line(s Sample, target int) {
	p.text(fmt.Sprintf("%4.0fs  clients %d/%d playing (%d started)  %.1f Mbit/s  stalls %d  errors %d  reconnects %d",
		s.T, s.Playing, target, s.Launched, s.Mbps, s.Stalls, s.Errors, s.Reconnects))
}

func (p *progress) text(text string) {
	if p.w == nil {
		return
	}
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K"+text)
	} else {
		fmt.Fprintln(p.w, text)
	}
	p.wrote = true
}

// finish ends the updating line so what follows starts on its own.
func (p *progress) finish() {
	if p.w != nil && p.tty && p.wrote {
		fmt.Fprintln(p.w)
	}
}
