package worker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"streamedge/ipc"
	"streamedge/media/hub"
	"streamedge/media/rtmp"
	"streamedge/media/upstream"
)

// forwardTimeout bounds the connect and publish to one origin (SRS's 5 s).
const forwardTimeout = upstream.DefaultTimeout

// forwardReq asks the edge's Run loop to forward a local publish.
type forwardReq struct {
	p     *hub.Publisher
	reply chan forwardResult
}

type forwardResult struct {
	stop func()
	err  error
}

// Forward pushes a publish of an edge stream to an origin, like SRS's
// SrsEdgeForwarder: the master gives the origins in balance order, a
// connect error moves to the next, and the first origin that answers
// decides: its refusal (say, the name is published there already) is the
// publisher's.
func (l *hostLink) Forward(p *hub.Publisher) (func(), error) {
	reply := make(chan forwardResult, 1)
	select {
	case l.edge.forwards <- forwardReq{p: p, reply: reply}:
	case <-l.edge.done:
		return nil, errors.New("worker stopping")
	}
	r := <-reply
	return r.stop, r.err
}

// forward runs on its own goroutine under the edge's Run: it connects,
// answers req, then feeds the origin until the publisher leaves (stop),
// the origin breaks, or ctx ends.
func (e *edgePulls) forward(ctx context.Context, req forwardReq) {
	key := req.p.Stream().Key()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, origin, err := e.dialForward(ctx, key)
	if err != nil {
		req.reply <- forwardResult{err: err}
		return
	}
	defer c.Close()
	sub, err := e.hub.SubscribeRelay(key)
	if err != nil {
		req.reply <- forwardResult{err: err}
		return
	}
	defer sub.Close()
	req.reply <- forwardResult{stop: cancel}
	log := e.log.With("stream", key.String(), "origin", origin)
	log.Info("edge forward start")
	err = sub.Run(ctx, clientWriter{c})
	if ctx.Err() == nil {
		// The origin broke the forward: the publisher must know, so it is
		// closed rather than left publishing to the edge alone.
		req.p.Close()
	}
	log.Info("edge forward end", "reason", err.Error(), "bytes", sub.Sent.Load())
}

func (e *edgePulls) dialForward(ctx context.Context, key hub.Key) (*rtmp.Client, string, error) {
	reply, err := e.link.call(ctx.Done(), func(id uint64) ipc.Message {
		return &ipc.Lookup{ID: id, Stream: key.String(), Forward: true}
	})
	if err != nil {
		return nil, "", err
	}
	r := reply.(*ipc.LookupReply)
	vhost := key.Vhost
	if r.UpVhost != "" {
		vhost = r.UpVhost
	}
	q := ""
	if vhost != hub.DefaultVhost {
		q = "vhost=" + url.QueryEscape(vhost)
	}
	last := errors.New("no origins configured")
	for _, origin := range r.Origins {
		u := url.URL{Scheme: "rtmp", Host: origin, Path: "/" + key.App + "/" + key.Name, RawQuery: q}
		dctx, cancel := context.WithTimeout(ctx, forwardTimeout)
		c, err := rtmp.DialWith(dctx, "", "", u.String(), rtmp.DialOptions{ConnectProps: e.identity})
		if err == nil {
			if err = c.Publish(dctx); err != nil {
				c.Close()
				cancel()
				// The origin answered: its word is final.
				return nil, "", fmt.Errorf("origin %s refused the publish: %w", origin, err)
			}
		}
		cancel()
		if err == nil {
			return c, origin, nil
		}
		last = fmt.Errorf("origin %s: %w", origin, err)
	}
	return nil, "", last
}

// clientWriter writes a subscriber's messages to an origin as a publisher.
type clientWriter struct{ c *rtmp.Client }

func (w clientWriter) WriteBatch(msgs []*hub.Msg) error {
	w.c.Conn().SetWriteDeadline(time.Now().Add(forwardTimeout))
	for _, m := range msgs {
		if err := w.c.WriteMedia(m.Type, m.Timestamp, m.Payload); err != nil {
			return err
		}
	}
	return nil
}
