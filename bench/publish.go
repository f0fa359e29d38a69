package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"streamedge/media/flv"
	"streamedge/media/rtmp"
)

// publishTimeout bounds a publisher's dial to Publish.Start, and a write the
// server does not take.
const publishTimeout = 10 * time.Second

// setDataFrame goes before onMetaData from a publisher, as encoders send it.
const setDataFrame = "\x02\x00\x0d@setDataFrame"

var onMetaData = []byte("\x02\x00\x0aonMetaData")

// PublishConfig is one publish run.
type PublishConfig struct {
	URL         string        // rtmp://host/app/stream; {i} expands to the publisher index
	Publishers  int           // streams to publish
	File        string        // an FLV file to loop, or
	Synthetic   float64       // the bitrate of a generated stream, when File is ""
	Duration    time.Duration // 0 runs until ctx ends
	AllowRemote bool
	Progress    io.Writer // a line a second; nil for none
	Log         *slog.Logger
}

// PublishResult is what a publish run sent.
type PublishResult struct {
	DurationS  float64           `json:"duration_s"`
	SourceBPS  float64           `json:"source_bitrate_bps"` // the synthetic rate or the file's average
	Bytes      uint64            `json:"bytes"`
	Mbps       float64           `json:"mbps"`
	Publishers []PublisherResult `json:"publishers"`
}

// PublisherResult is one publisher's account.
type PublisherResult struct {
	Index      int      `json:"index"`
	URL        string   `json:"url"`
	Sessions   int      `json:"sessions"` // publishes the server accepted
	Bytes      uint64   `json:"bytes"`
	Messages   uint64   `json:"messages"`
	Errors     []string `json:"errors,omitempty"`
	ErrorCount int      `json:"error_count"`
}

func (c *PublishConfig) validate() error {
	switch {
	case c.Publishers < 1 || c.Publishers > MaxClients:
		return fmt.Errorf("publishers must be between 1 and %d, got %d", MaxClients, c.Publishers)
	case c.Duration < 0 || c.Duration > MaxDuration:
		return fmt.Errorf("duration must be between 0 and %v, got %v", MaxDuration, c.Duration)
	case c.File == "" && c.Synthetic <= 0:
		return errors.New("give a file to loop (-file) or a synthetic bitrate (-synthetic 2M)")
	case c.File != "" && c.Synthetic > 0:
		return errors.New("give either a file or a synthetic bitrate, not both")
	}
	return checkFDs(c.Publishers)
}

// Publish publishes cfg's streams until the duration ends or ctx does; a
// publisher that is dropped or refused tries again every few seconds.
func Publish(ctx context.Context, cfg PublishConfig) (*PublishResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	proto, err := checkTargets(ctx, cfg.URL, cfg.Publishers, cfg.AllowRemote)
	if err != nil {
		return nil, err
	}
	if proto != ProtoRTMP {
		return nil, fmt.Errorf("publishers speak RTMP: want an rtmp:// URL, got %s", cfg.URL)
	}
	newSource, sourceBPS, err := sourceFor(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	start := time.Now()
	pubs := make([]*publisher, cfg.Publishers)
	var wg sync.WaitGroup
	for i := range pubs {
		u := ExpandURL(cfg.URL, i)
		pubs[i] = &publisher{url: u, newSource: newSource, log: log.With("publisher", i),
			res: PublisherResult{Index: i, URL: u}}
		wg.Go(func() { pubs[i].run(ctx) })
	}
	watchPublishers(ctx, start, pubs, cfg.Progress)
	wg.Wait()

	res := &PublishResult{DurationS: time.Since(start).Seconds(), SourceBPS: sourceBPS}
	for _, p := range pubs {
		res.Publishers = append(res.Publishers, p.res)
		res.Bytes += p.res.Bytes
	}
	res.Mbps = float64(res.Bytes) * 8 / res.DurationS / 1e6
	return res, nil
}

// sourceFor makes a fresh tag source per session: a republished stream
// starts with its headers again.
func sourceFor(cfg PublishConfig) (func() tagSource, float64, error) {
	if cfg.File == "" {
		return func() tagSource { return newSynthetic(cfg.Synthetic) }, cfg.Synthetic, nil
	}
	ff, err := loadFLV(cfg.File)
	if err != nil {
		return nil, 0, err
	}
	return func() tagSource { return &fileLoop{f: ff} }, ff.bitrate(), nil
}

// watchPublishers prints progress once a second until ctx ends.
func watchPublishers(ctx context.Context, start time.Time, pubs []*publisher, w io.Writer) {
	pr := newProgress(w)
	defer pr.finish()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastBytes uint64
	last := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			var up, errs int
			var total uint64
			for _, p := range pubs {
				if p.up.Load() {
					up++
				}
				total += p.bytes.Load()
				errs += int(p.errors.Load())
			}
			mbps := float64(total-lastBytes) * 8 / now.Sub(last).Seconds() / 1e6
			lastBytes, last = total, now
			pr.text(fmt.Sprintf("%4.0fs  publishers %d/%d up  %.1f Mbit/s  errors %d",
				now.Sub(start).Seconds(), up, len(pubs), mbps, errs))
		}
	}
}

// publisher keeps one stream published.
type publisher struct {
	url       string
	newSource func() tagSource
	log       *slog.Logger
	res       PublisherResult

	up     atomic.Bool
	bytes  atomic.Uint64
	errors atomic.Int32
}

func (p *publisher) run(ctx context.Context) {
	backoff := minBackoff
	for ctx.Err() == nil {
		err := p.session(ctx)
		if ctx.Err() != nil {
			return
		}
		p.res.ErrorCount++
		p.errors.Add(1)
		if len(p.res.Errors) < maxErrorsKept {
			p.res.Errors = append(p.res.Errors, reason(err))
		}
		p.log.Warn("publish failed", "url", p.url, "err", reason(err), "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session publishes until the connection fails or ctx ends, pacing tags by
// their timestamps so the stream runs in real time.
func (p *publisher) session(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, publishTimeout)
	c, err := rtmp.Dial(dctx, p.url)
	if err == nil {
		if err = c.Publish(dctx); err != nil {
			c.Close()
		}
	}
	cancel()
	if err != nil {
		return phased("publish", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	p.res.Sessions++
	p.up.Store(true)
	defer p.up.Store(false)
	p.log.Info("publishing", "url", p.url)

	src := p.newSource()
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var moved time.Time
	var body []byte
	for {
		tag := src.next()
		if wait := time.Until(start.Add(time.Duration(tag.Timestamp) * time.Millisecond)); wait > time.Millisecond {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if now := time.Now(); now.Sub(moved) >= deadlineEvery {
			c.Conn().SetWriteDeadline(now.Add(publishTimeout))
			moved = now
		}
		body = tag.Data
		if tag.Type == flv.TagScript && bytes.HasPrefix(tag.Data, onMetaData) {
			body = append(append(body[:0:0], setDataFrame...), tag.Data...)
		}
		if err := c.WriteMedia(tag.Type, tag.Timestamp, body); err != nil {
			return phased("write", err)
		}
		p.res.Messages++
		p.res.Bytes += uint64(len(tag.Data))
		p.bytes.Store(p.res.Bytes)
	}
}
