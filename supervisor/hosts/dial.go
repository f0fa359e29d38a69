package hosts

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts of one store round trip. Short, because the master waits on
// none of them (the store runs on its own goroutine) and a store that does
// not answer within a heartbeat is as good as down for the resolver.
const (
	dialTimeout = time.Second
	ioTimeout   = time.Second
)

// Dial makes the client for a hosts.redis URL: a plain Redis, Sentinels
// (?master_name=NAME) or the seeds of a Redis Cluster (?addr=host:port,
// repeated); go-redis's universal client then does the rest. Nothing is
// dialled yet.
func Dial(raw string, log *slog.Logger) (redis.UniversalClient, error) {
	quietLibrary(log)
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("hosts.redis: %w", err)
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		o, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, fmt.Errorf("hosts.redis: %w", err)
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries = dialTimeout, ioTimeout, ioTimeout, -1
		return redis.NewFailoverClient(o), nil
	case q.Has("addr"):
		o, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, fmt.Errorf("hosts.redis: %w", err)
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries = dialTimeout, ioTimeout, ioTimeout, -1
		o.DialerRetries = 1
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("hosts.redis: %w", err)
	}
	// No retries inside a call: the store's own loop retries with backoff,
	// and a retry here would hold a heartbeat past its deadline.
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries = dialTimeout, ioTimeout, ioTimeout, -1
	o.DialerRetries = 1
	return redis.NewClient(o), nil
}

var quietOnce sync.Once

// quietLibrary routes go-redis's own printf logging (one line per failed
// dial, which is one per heartbeat while Redis is down) to debug: the store
// reports outages itself, once per interval.
func quietLibrary(log *slog.Logger) {
	quietOnce.Do(func() { redis.SetLogger(libLogger{log.With("component", "go-redis")}) })
}

type libLogger struct{ log *slog.Logger }

func (l libLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if len(msg) > 300 {
		msg = msg[:300]
	}
	l.log.Debug("redis client", "detail", msg)
}
