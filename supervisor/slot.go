package supervisor

import (
	"time"

	"streamedge/ipc"
)

// WorkerState is where a worker is in its life.
type WorkerState string

// Worker states, as the API shows them.
const (
	StateStarting WorkerState = "starting"
	StateReady    WorkerState = "ready"
	StateDraining WorkerState = "draining" // retired: accepts nothing, lets its sessions end
	StateStopping WorkerState = "stopping" // told to quit, or killed
	StateDown     WorkerState = "down"     // between a crash and the restart
)

// slot is a numbered place for one worker, as in nginx: a worker that dies
// is restarted in the same slot, on the same sockets.
type slot struct {
	index    int
	sockets  *slotSockets
	proc     *workerProc  // the serving worker; nil between a crash and the restart
	next     *workerProc  // its replacement while that one starts (reload)
	nextSock *slotSockets // s.sockets itself for a balance retire
	// retireReason says why a balance retire replaces the worker.
	retireReason string
	restarts     int       // workers started in this slot after the first
	crashes      int       // exits in a row that came soon after a start
	due          time.Time // when a down slot's next worker starts
}

// workerProc is one worker process.
type workerProc struct {
	gen       uint64 // tells this process's events from any other's
	slot      int
	proc      Process
	pid       int
	state     WorkerState
	started   time.Time
	hello     *ipc.Hello
	relayAddr string
	// handoffAddr is its handoff socket: players moved to it go there.
	handoffAddr string
	load        *ipc.Load
	rtcPlaced   int // WebRTC sessions placed here since load (supervisor/rtc.go)
	// retired workers: when to give up waiting, and sockets of their own
	// to close when they are gone.
	drainDeadline time.Time
	closeOnExit   *slotSockets
}

func (s *slot) state() WorkerState {
	if s.proc == nil {
		return StateDown
	}
	return s.proc.state
}

// restartDelay is the backoff before a slot's next worker: short after a
// worker that ran for a while, doubling for one that keeps dying at start.
func restartDelay(crashes int) time.Duration {
	const first, ceiling = 100 * time.Millisecond, 30 * time.Second
	d := first
	for range min(crashes, 10) {
		d *= 2
	}
	return min(d, ceiling)
}
