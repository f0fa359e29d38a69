package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"streamedge/media/flv"
	"streamedge/media/rtmp"
)

// session is one accepted play: a stream of media messages.
type session interface {
	// next returns the next audio, video or data message. body is only
	// valid until the next call.
	next() (typ uint8, ts uint32, body []byte, err error)
	conn() net.Conn
	wireBytes() uint64 // 0 where the protocol client does not expose it
	close()
}

// open dials url and starts playing it; ctx bounds the whole of it.
func open(ctx context.Context, proto, rawURL string) (session, error) {
	switch proto {
	case ProtoRTMP:
		return openRTMP(ctx, rawURL)
	case ProtoWHEP:
		return openWHEP(ctx, rawURL)
	}
	return openFLV(ctx, rawURL)
}

type rtmpSession struct{ c *rtmp.Client }

func openRTMP(ctx context.Context, rawURL string) (session, error) {
	c, err := rtmp.Dial(ctx, rawURL)
	if err != nil {
		return nil, phased("connect", err)
	}
	if err := c.Play(ctx); err != nil {
		c.Close()
		return nil, phased("play", err)
	}
	return rtmpSession{c}, nil
}

func (s rtmpSession) next() (uint8, uint32, []byte, error) {
	m, err := s.c.ReadMedia()
	return m.TypeID, m.Timestamp, m.Payload, err
}
func (s rtmpSession) conn() net.Conn    { return s.c.Conn() }
func (s rtmpSession) wireBytes() uint64 { return 0 }
func (s rtmpSession) close()            { s.c.Close() }

// flvSession is an HTTP-FLV response read tag by tag. The request is
// written by hand on a plain connection, so the bench controls the one
// socket per player and can count what crosses it.
type flvSession struct {
	nc      *countingConn
	r       *flv.Reader
	started bool // the FLV file header has been read
}

func openFLV(ctx context.Context, rawURL string) (session, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, phased("connect", err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, phased("connect", err)
	}
	nc := &countingConn{Conn: raw}
	// The request and the response head must arrive within ctx too.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	req.Header.Set("User-Agent", "streamedge-bench")
	if err := req.Write(nc); err != nil {
		nc.Close()
		return nil, phased("request", ctxErr(ctx, err))
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(nc, 64<<10), req)
	if err != nil {
		nc.Close()
		return nil, phased("response", ctxErr(ctx, err))
	}
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		nc.Close()
		return nil, phased("play", fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(snippet))))
	}
	r := flv.NewReader(resp.Body, flv.WithReuseBuffer())
	if !stop() {
		nc.Close()
		return nil, phased("response", ctx.Err())
	}
	return &flvSession{nc: nc, r: r}, nil
}

func (s *flvSession) next() (uint8, uint32, []byte, error) {
	if !s.started {
		s.started = true
		if _, _, err := s.r.ReadHeader(); err != nil {
			return 0, 0, nil, err
		}
	}
	for {
		tag, err := s.r.ReadTag()
		if err != nil {
			return 0, 0, nil, err
		}
		switch tag.Type {
		case flv.TagAudio, flv.TagVideo, flv.TagScript:
			return tag.Type, tag.Timestamp, tag.Data, nil
		}
	}
}
func (s *flvSession) conn() net.Conn    { return s.nc }
func (s *flvSession) wireBytes() uint64 { return s.nc.n }
func (s *flvSession) close()            { s.nc.Close() }

// countingConn counts the bytes read; only the player's goroutine reads.
type countingConn struct {
	net.Conn
	n uint64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += uint64(n)
	return n, err
}

// phaseError says in which step of a session an error happened.
type phaseError struct {
	phase string
	err   error
}

func phased(phase string, err error) error { return &phaseError{phase, err} }

func (e *phaseError) Error() string { return e.phase + ": " + e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

// ctxErr prefers the context's reason for an error it caused by closing the
// connection: "deadline exceeded" says more than "use of closed connection".
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// reason makes an error fit for grouping: the same cause gives the same
// text for every client, without their port numbers.
func reason(err error) string {
	var pe *phaseError
	prefix := ""
	if errors.As(err, &pe) {
		prefix, err = pe.phase+": ", pe.err
	}
	var st *rtmp.StatusError
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &st):
		return prefix + "refused: " + st.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return prefix + "timed out"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return prefix + "server closed the connection"
	case errors.As(err, &oe):
		return prefix + oe.Op + ": " + oe.Err.Error()
	}
	return prefix + err.Error()
}
