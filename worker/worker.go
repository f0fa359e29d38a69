// Package worker runs the media servers of one process on listeners it is
// given: RTMP, and HTTP for HTTP-FLV. It never binds a port itself, so the
// same code serves a standalone process and, later, a worker forked by the
// master on inherited sockets.
package worker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/httpflv"
	"streamedge/media/hub"
	"streamedge/media/rtmp"
)

// Listeners are the sockets a worker serves. A nil listener is not served.
type Listeners struct {
	RTMP  net.Listener
	HTTP  net.Listener
	Relay net.Listener // the private unix socket other workers relay from
}

// Worker is the hub and the protocol servers of one process.
type Worker struct {
	log  *slog.Logger
	hub  *hub.Hub
	rtmp *rtmp.Server
	flv  *httpflv.Handler
	http *http.Server
	bal  *balancer
}

// New builds a worker from cfg; Run starts it.
func New(cfg *configs.Config, log *slog.Logger) *Worker {
	h := hub.New(hubOptions(cfg), log)
	w := &Worker{log: log, hub: h, rtmp: rtmp.NewServer(h, rtmpConfig(cfg), log), flv: httpflv.New(h, log)}
	w.bal = newBalancer(w, cfg, log)
	w.rtmp.SetAdmit(w.bal.admitRTMP)
	mux := http.NewServeMux()
	mux.Handle("/", w.bal.admitHTTP(w.flv))
	w.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.RTMP.HandshakeTimeout.Std(),
		IdleTimeout:       30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.With("server", "http").Handler(), slog.LevelDebug),
	}
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

func rtmpConfig(cfg *configs.Config) rtmp.Config {
	return rtmp.Config{
		ChunkSize:        cfg.RTMP.ChunkSize,
		HandshakeTimeout: cfg.RTMP.HandshakeTimeout.Std(),
		MaxMessageSize:   cfg.RTMP.MaxMessageSize,
	}
}

// Reload applies the settings a running worker can take without touching
// any session: play options and RTMP limits for new connections.
func (w *Worker) Reload(cfg *configs.Config) {
	w.hub.SetOptions(hubOptions(cfg))
	w.rtmp.SetConfig(rtmpConfig(cfg))
	w.bal.configure(cfg)
}

// Drain retires the worker gracefully: it stops accepting on ls (the
// master's copies of the sockets stay open, so nothing queued is lost),
// closes idle HTTP connections, and ends the players of every stream that
// ends from now on, so they reconnect to a worker that stays. Sessions go
// on until Run's context ends.
func (w *Worker) Drain(ls Listeners) {
	for _, ln := range []net.Listener{ls.RTMP, ls.HTTP} {
		if ln != nil {
			ln.Close()
		}
	}
	w.http.SetKeepAlivesEnabled(false)
	w.hub.Drain()
}

// Sessions counts open RTMP connections (relays included) and HTTP-FLV players.
func (w *Worker) Sessions() int64 {
	return w.rtmp.Stats.Conns.Load() + w.flv.Stats.Players.Load()
}

// clientList is the worker's sessions for the master's API, at most
// ipc.MaxClientsListed of them.
func (w *Worker) clientList(id uint64) *ipc.ClientList {
	list := &ipc.ClientList{ID: id}
	for _, ses := range append(w.rtmp.Sessions(), w.flv.Sessions()...) {
		if len(list.Clients) == ipc.MaxClientsListed {
			list.Truncated = true
			break
		}
		list.Clients = append(list.Clients, ipc.Client(ses))
	}
	return list
}

// Hub is the worker's stream hub (for the API and tests).
func (w *Worker) Hub() *hub.Hub { return w.hub }

// Run serves ls until ctx ends, then closes every listener and session and
// returns once all its goroutines are done.
func (w *Worker) Run(ctx context.Context, ls Listeners) error {
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, ln := range []net.Listener{ls.RTMP, ls.Relay} {
		if ln != nil {
			wg.Go(func() { errs <- w.rtmp.Serve(ctx, ln) })
		}
	}
	if ls.HTTP != nil {
		wg.Go(func() {
			// A closed listener is a drain, not a failure: sessions go on.
			if err := w.http.Serve(ls.HTTP); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errs <- err
			}
		})
	}
	// A server that returns nil had its listener closed by a drain: keep
	// serving sessions until ctx ends. Only an error stops the worker early.
	var err error
	for err == nil && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case err = <-errs:
		}
	}
	// Closing the hub first ends players and publishers at once, so the
	// servers have nothing long-lived left to wait for.
	w.hub.Close()
	w.http.Close()
	w.flv.Close()
	wg.Wait()
	return err
}
