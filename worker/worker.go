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

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/hub"
)

// Listeners are the sockets a worker serves, by the name of the server
// that serves each. A server with no listener is not served.
type Listeners map[string]net.Listener

// Worker is the hub and the protocol servers of one process.
type Worker struct {
	log     *slog.Logger
	hub     *hub.Hub
	servers []server
	bal     *balancer
}

// New builds a worker from cfg; Run starts it.
func New(cfg *configs.Config, log *slog.Logger) *Worker {
	h := hub.New(hubOptions(cfg), log)
	w := &Worker{log: log, hub: h, servers: []server{
		newRTMPServer("rtmp", h, cfg, log),
		newRTMPServer(relaySocket, h, cfg, log),
		newHTTPServer("http", h, cfg, log),
	}}
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
	}
}

// Reload applies the settings a running worker can take without touching
// any session: play options and protocol limits for new connections.
func (w *Worker) Reload(cfg *configs.Config) {
	w.hub.SetOptions(hubOptions(cfg))
	for _, s := range w.servers {
		s.reload(cfg)
	}
	w.bal.configure(cfg)
}

// Drain retires the worker gracefully: it stops accepting on ls (the
// master's copies of the sockets stay open, so nothing queued is lost),
// closes idle HTTP connections, and ends the players of every stream that
// ends from now on, so they reconnect to a worker that stays. Sessions go
// on until Run's context ends.
func (w *Worker) Drain(ls Listeners) {
	for _, s := range w.servers {
		if ln := ls[s.name()]; ln != nil && s.name() != relaySocket {
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

// report fills in the connection counts and bytes of a load report.
func (w *Worker) report(l *ipc.Load) {
	l.Conns = ipc.ConnCounts{}
	for _, s := range w.servers {
		s.report(l)
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

// Run serves ls until ctx ends, then closes every listener and session and
// returns once all its goroutines are done.
func (w *Worker) Run(ctx context.Context, ls Listeners) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(w.servers))
	for _, s := range w.servers {
		if ln := ls[s.name()]; ln != nil {
			wg.Go(func() {
				if err := s.serve(ctx, ln); err != nil {
					errs <- err
				}
			})
		}
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
	wg.Wait()
	return err
}
