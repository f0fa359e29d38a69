// Package worker is one worker process: it serves the protocols of its
// server table (RTMP, HTTP-FLV, the private relay socket) on the sockets the
// master passes by name, joins them to one media hub, tells the master of
// its streams and load over IPC, pulls streams published on other workers,
// and drains on command. It never binds a public port itself.
package worker

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/access"
	"streamedge/media/connlog"
	"streamedge/media/hub"
	"streamedge/media/readpoll"
)

// Listeners are the sockets a worker serves, by the name of the server
// that serves each. A server with no listener is not served.
type Listeners map[string]net.Listener

// Worker is the hub, the protocol servers of one process and the listeners
// they serve. The listeners are set before Run (Serve them with Listen, or
// adopt the master's with adoptListeners) and are the worker's from then
// on: Drain closes them, Run's end closes the rest.
type Worker struct {
	log     *slog.Logger
	hub     *hub.Hub
	servers []server
	ls      Listeners
	rtc     *rtcServer // nil unless rtc.enabled
	cpuBias float64    // injected load (faultEnv), added to every report
	edge    *edgePulls // set when the worker is joined to a host: its edge pulls
	gate    *access.Gate
	bal     *balancer
	// draining is set by Drain: the handoff socket refuses players from then.
	draining atomic.Bool
	ho       *handoffs // nil until the process opens its handoff socket
	// poll is where players wait for their clients' side without a
	// goroutine each; nil if the kernel gave no epoll set (players then
	// wait in a read of their own).
	poll *readpoll.Poller
}

// New builds a worker from cfg; Run starts it.
func New(cfg *configs.Config, log *slog.Logger) *Worker {
	h := hub.New(hubOptions(cfg), log)
	httpSrv := newHTTPServer("http", h, cfg, log)
	rtmpSrv, relaySrv := newRTMPServer("rtmp", h, cfg, log), newRTMPServer(relaySocket, h, cfg, log)
	w := &Worker{log: log, hub: h, servers: []server{rtmpSrv, relaySrv, httpSrv}}
	if poll, err := readpoll.New(); err == nil {
		w.poll = poll
		httpSrv.flv.SetPoller(poll)
		rtmpSrv.srv.SetPoller(poll)
		relaySrv.srv.SetPoller(poll)
	} else {
		log.Warn("no read poller: each player waits in a goroutine", "reason", err.Error())
	}
	if cfg.RTC.Enabled {
		// WHIP/WHEP signalling goes in front of HTTP-FLV on the same port.
		w.rtc = newRTCServer(h, cfg, log)
		w.servers = append(w.servers, w.rtc)
		httpSrv.srv.Handler = w.rtc.handler(httpSrv.srv.Handler)
	}
	w.gate = newAccessGate(cfg, w)
	for _, s := range w.servers {
		if g, ok := s.(gated); ok {
			g.setGate(w.gate)
		}
	}
	// Last, so that its refusals come before anything else is done.
	w.bal = newBalancer(w, cfg, log)
	return w
}

func hubOptions(cfg *configs.Config) hub.Options {
	return hub.Options{
		GOPCache:          cfg.Play.GOPCache,
		GOPCacheMaxFrames: cfg.Play.GOPCacheMaxFrames,
		QueueLength:       cfg.Play.QueueLength.Std(),
		SendTimeout:       cfg.Play.SendTimeout.Std(),
		MaxSkips:          cfg.Play.MaxSkips,
		MergedWrite:       cfg.Play.MWLatency.Std(),
		SendBuffer:        cfg.Play.SendBuffer,
	}
}

// Reload applies the settings a running worker can take without touching
// any session: play options and protocol limits for new connections.
func (w *Worker) Reload(cfg *configs.Config) {
	w.hub.SetOptions(hubOptions(cfg))
	w.gate.SetPolicies(accessPolicies(cfg))
	for _, s := range w.servers {
		s.reload(cfg)
	}
	w.bal.configure(cfg)
}

// Listen gives the worker the listeners it serves; call it before Run.
func (w *Worker) Listen(ls Listeners) { w.ls = ls }

// Drain retires the worker gracefully: it stops accepting on its public
// listeners (the master's copies of the sockets stay open, so nothing
// queued is lost; the relay socket stays, other workers may still pull
// from it), closes idle HTTP connections, and ends the players of every
// stream that ends from now on, so they reconnect to a worker that stays.
// Sessions go on until Run's context ends.
func (w *Worker) Drain() {
	w.draining.Store(true)
	for _, s := range w.servers {
		if ln := w.ls[s.name()]; ln != nil && s.name() != relaySocket {
			ln.Close()
		}
		s.drain()
	}
	w.hub.Drain()
}

// Sessions counts open connections, relays included: a drained worker
// waits for them.
func (w *Worker) Sessions() int64 {
	var n int64
	for _, s := range w.servers {
		n += s.open()
	}
	return n
}

// idle returns a channel closed once no server has an open connection.
// Each server's idle channel is waited for in turn, then all are checked
// at once, since a connection may have come to one while waiting for
// another.
func (w *Worker) idle(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for {
			all := true
			for _, s := range w.servers {
				select {
				case <-s.idle():
					continue
				default:
				}
				all = false
				select {
				case <-s.idle():
				case <-ctx.Done():
					return
				}
			}
			if all {
				close(done)
				return
			}
		}
	}()
	return done
}

// report fills in the connection counts and bytes of a load report.
func (w *Worker) report(l *ipc.Load) {
	l.Conns = ipc.ConnCounts{}
	l.Junk = map[string]uint64{}
	l.States = map[string]int{}
	for _, st := range connlog.States() {
		l.States[st.String()] = 0 // every state, so the metric shows zeros
	}
	for _, s := range w.servers {
		s.report(l)
	}
	if w.ho != nil {
		l.HandoffsIn, l.HandoffsOut = w.ho.movedIn.Load(), w.ho.movedOut.Load()
	}
}

// clientList is the worker's sessions for the master's API, at most
// ipc.MaxClientsListed of them.
func (w *Worker) clientList(id uint64) *ipc.ClientList {
	list := &ipc.ClientList{ID: id}
	for _, s := range w.servers {
		for _, c := range s.sessions() {
			if len(list.Clients) == ipc.MaxClientsListed {
				list.Truncated = true
				return list
			}
			list.Clients = append(list.Clients, c)
		}
	}
	return list
}

// junk is the junk counters of the servers that keep them, by the message
// their summary lines carry.
func (w *Worker) junk() map[string]*connlog.Junk {
	m := map[string]*connlog.Junk{}
	for _, s := range w.servers {
		if msg, j := s.junk(); j != nil {
			m[msg] = j
		}
	}
	return m
}

// Run serves the worker's listeners until ctx ends, then closes every
// listener and session and returns once all its goroutines are done.
func (w *Worker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(w.servers))
	wg.Go(func() { w.gate.Run(ctx) })
	for _, s := range w.servers {
		if ln := w.ls[s.name()]; ln != nil {
			wg.Go(func() {
				if err := s.serve(ctx, ln); err != nil {
					errs <- err
				}
			})
		}
	}
	summaryCtx, stopSummary := context.WithCancel(context.Background())
	wg.Go(func() { connlog.Summarise(summaryCtx, w.log, connlog.Interval, w.junk()) })
	// The poller outlives the sessions that wait in it.
	pollCtx, stopPoll := context.WithCancel(context.Background())
	if w.poll != nil {
		wg.Go(func() {
			if err := w.poll.Run(pollCtx); err != nil {
				w.log.Error("read poller failed", "reason", err.Error())
			}
		})
	}
	// A server that returns nil had its listener closed by a drain: keep
	// serving sessions until ctx ends. Only an error stops the worker early.
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	cancel()
	// Closing the hub first ends players and publishers at once, so the
	// servers have nothing long-lived left to wait for.
	w.hub.Close()
	for _, s := range w.servers {
		s.close()
	}
	for _, ln := range w.ls {
		ln.Close()
	}
	stopSummary() // after the servers: their last junk is in the last summary
	stopPoll()
	wg.Wait()
	return err
}
