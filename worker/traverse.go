package worker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"streamedge/configs"
	"streamedge/media/access"
	"streamedge/media/connlog"
	"streamedge/media/rtmp"
	"streamedge/media/rtmp/amf"
	"streamedge/media/upstream"
)

// traverseTimeout bounds the check of one origin (SRS's edge token
// traverse timeout is 3 s).
const traverseTimeout = 3 * time.Second

// ReasonTokenTraverse labels a connect the origin refused for an edge.
const ReasonTokenTraverse = "token_traverse"

// tokenTraverse is the RTMP gate of an edge vhost with token_traverse
// (SRS's): a client's connect is made again, tcUrl and query (the token)
// included, to the first origin that answers, and the edge accepts only
// what the origin accepts. Everything else passes to next, if any.
type tokenTraverse struct {
	cfg      atomic.Pointer[configs.Config]
	identity []amf.Property
	next     rtmp.Gate
}

var _ rtmp.Gate = (*tokenTraverse)(nil)

func newTokenTraverse(cfg *configs.Config) *tokenTraverse {
	host, _ := os.Hostname()
	t := &tokenTraverse{identity: upstream.Identity(host, os.Getpid())}
	t.cfg.Store(cfg)
	return t
}

func (t *tokenTraverse) Admit(ctx context.Context, r *access.Request) error {
	if r.Action == access.Connect {
		if cl := t.cfg.Load().Cluster(r.Vhost); cl.Mode == configs.ModeRemote && cl.TokenTraverse {
			if err := t.check(ctx, cl, r); err != nil {
				return &access.Denied{Reason: ReasonTokenTraverse, Detail: err.Error()}
			}
		}
	}
	if t.next != nil {
		return t.next.Admit(ctx, r)
	}
	return nil
}

func (t *tokenTraverse) Notify(r *access.Request) {
	if t.next != nil {
		t.next.Notify(r)
	}
}

// check connects to the origins in turn: the first that answers decides.
func (t *tokenTraverse) check(ctx context.Context, cl configs.Cluster, r *access.Request) error {
	last := errors.New("no origin answered")
	for _, origin := range cl.Origin {
		tc := url.URL{Scheme: "rtmp", Host: origin, Path: "/" + r.App, RawQuery: r.Param}
		cctx, cancel := context.WithTimeout(ctx, traverseTimeout)
		// The URL needs a stream to parse; a connect sends none.
		c, err := rtmp.DialWith(cctx, "", "", "rtmp://"+origin+"/"+r.App+"/-", rtmp.DialOptions{ConnectProps: t.identity, TCURL: tc.String()})
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		var st *rtmp.StatusError
		if errors.As(err, &st) {
			return fmt.Errorf("the origin refused the connect: %s", connlog.Clip(st.Description))
		}
		last = err
	}
	return fmt.Errorf("token not checked, no origin answered: %v", last)
}
