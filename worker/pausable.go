package worker

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// While the master has a slot out of the reuseport group (shutdown of its
// copy of the socket), accept on the worker's copy returns EINVAL until the
// master listens again. Nothing tells the worker when, so it looks again
// at a short, growing interval: at most pausedPollMax after the resume.
const (
	pausedPollMin = 5 * time.Millisecond
	pausedPollMax = 50 * time.Millisecond
)

// pausableListener keeps the servers serving across a pause: a plain
// EINVAL from Accept would end http.Server.Serve for good.
type pausableListener struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
	// onPause, when set, hears each start and end of a pause (for tests
	// and the log).
	onPause func(paused bool)
}

func newPausableListener(ln net.Listener, onPause func(bool)) *pausableListener {
	return &pausableListener{Listener: ln, closed: make(chan struct{}), onPause: onPause}
}

func (l *pausableListener) Accept() (net.Conn, error) {
	wait := time.Duration(0)
	for {
		c, err := l.Listener.Accept()
		if err == nil || !errors.Is(err, syscall.EINVAL) {
			if wait > 0 && l.onPause != nil {
				l.onPause(false)
			}
			return c, err
		}
		if wait == 0 {
			wait = pausedPollMin
			if l.onPause != nil {
				l.onPause(true)
			}
		} else {
			wait = min(2*wait, pausedPollMax)
		}
		t := time.NewTimer(wait)
		select {
		case <-l.closed:
			t.Stop()
			return nil, net.ErrClosed
		case <-t.C:
		}
	}
}

func (l *pausableListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}
