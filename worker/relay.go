package worker

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"streamedge/media/hub"
	"streamedge/media/rtmp"
)

// relayLinger is how long a relay with no players stays open, so a player
// that reconnects finds it still warm.
const relayLinger = 5 * time.Second

// relays pulls streams published on other workers of the host, one relay
// per stream per worker, shared by every local player of it.
type relays struct {
	hub  *hub.Hub
	link *hostLink
	log  *slog.Logger

	mu      sync.Mutex
	running map[hub.Key]*relay
}

type relay struct {
	key    hub.Key
	cancel context.CancelFunc
}

func newRelays(h *hub.Hub, link *hostLink, log *slog.Logger) *relays {
	return &relays{hub: h, link: link, log: log, running: make(map[hub.Key]*relay)}
}

// pull makes sure key is relayed here if another worker publishes it, and
// reports whether it is published anywhere on the host.
func (r *relays) pull(ctx context.Context, key hub.Key) bool {
	r.mu.Lock()
	_, ok := r.running[key]
	r.mu.Unlock()
	if ok {
		return true
	}
	reply, err := r.link.lookup(ctx, key)
	if err != nil {
		r.log.Warn("stream lookup failed", "stream", key.String(), "err", err)
		return false
	}
	if !reply.Found {
		return false
	}
	if reply.RelayAddr == r.link.self {
		return true // ours: the publisher is registering right now
	}
	r.start(key, reply.RelayAddr)
	return true
}

// waiting reports local players waiting for key, which has no publisher here.
func (r *relays) waiting(key hub.Key) bool {
	for _, info := range r.hub.Streams() {
		if info.Key == key {
			return !info.Publishing && info.Players > 0
		}
	}
	return false
}

// published starts a relay for key when local players wait for it.
func (r *relays) published(key hub.Key, addr string) {
	if r.waiting(key) {
		r.start(key, addr)
	}
}

// unpublished ends the relay of key: its publisher left the owner. Local
// players stay and wait for a republish, as they would on one process.
func (r *relays) unpublished(key hub.Key) {
	r.mu.Lock()
	rl := r.running[key]
	r.mu.Unlock()
	if rl != nil {
		rl.cancel()
	}
}

func (r *relays) start(key hub.Key, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.running[key]; ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	rl := &relay{key: key, cancel: cancel}
	r.running[key] = rl
	go func() {
		defer cancel()
		err := r.run(ctx, key, addr)
		r.mu.Lock()
		delete(r.running, key)
		r.mu.Unlock()
		r.log.Info("relay end", "stream", key.String(), "reason", err.Error())
		if ctx.Err() == nil && !errors.Is(err, errIdle) {
			// Lost for another reason than the publisher leaving or nobody
			// watching: local players still wait, so pull again.
			time.AfterFunc(relayRetry, func() { r.repull(key) })
		}
	}()
}

// relayRetry is the pause before pulling again a relay that broke.
const relayRetry = 500 * time.Millisecond

// repull starts the relay of key again if local players wait for it.
func (r *relays) repull(key hub.Key) {
	if r.waiting(key) {
		ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
		defer cancel()
		r.pull(ctx, key)
	}
}

// errIdle ends a relay nobody watches.
var errIdle = errors.New("no players for the linger time")

// run plays key from the owner's private socket and publishes it locally.
func (r *relays) run(ctx context.Context, key hub.Key, addr string) error {
	u := url.URL{Scheme: "rtmp", Host: "relay", Path: "/" + key.App + "/" + key.Name, RawQuery: "vhost=" + url.QueryEscape(key.Vhost)}
	dialCtx, cancel := context.WithTimeout(ctx, claimTimeout)
	c, err := rtmp.DialVia(dialCtx, "unix", addr, u.String())
	if err == nil {
		err = c.Play(dialCtx)
	}
	cancel()
	if err != nil {
		if c != nil {
			c.Close()
		}
		return err
	}
	defer c.Close()
	pub, err := r.hub.PublishRelay(key)
	if err != nil {
		return err
	}
	defer pub.Close()
	r.log.Info("relay start", "stream", key.String(), "from", addr)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	idle := make(chan error, 1)
	go watchIdle(ctx, pub.Stream(), idle, c)
	for {
		msg, err := c.ReadMedia()
		if err != nil {
			select {
			case why := <-idle:
				return why
			default:
			}
			if ctx.Err() != nil {
				return errors.New("the owner's publisher left")
			}
			return err
		}
		if err := pub.Write(msg.TypeID, msg.Timestamp, msg.Payload); err != nil {
			return err
		}
	}
}

// watchIdle closes the relay once its stream has had no players for relayLinger.
func watchIdle(ctx context.Context, s *hub.Stream, idle chan<- error, c *rtmp.Client) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var since time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if s.Info().Players > 0 {
				since = time.Time{}
				continue
			}
			if since.IsZero() {
				since = now
			} else if now.Sub(since) >= relayLinger {
				idle <- errIdle
				c.Close()
				return
			}
		}
	}
}

// claimTimeout bounds setting up a relay.
const claimTimeout = 3 * time.Second
