package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"streamedge/media/connlog"
	"streamedge/media/flv"
	"streamedge/media/relay"
	"streamedge/media/rtmp"
	"streamedge/media/rtmp/amf"
)

// ErrNotFound is an origin's answer that it does not have the stream.
var ErrNotFound = errors.New("stream not found on the origin")

// Target is what an edge asks its origin for.
type Target struct {
	Vhost string // empty or __defaultVhost__: the origin's default vhost
	App   string
	Name  string
}

func (t Target) query() string {
	if t.Vhost == "" || t.Vhost == defaultVhost {
		return ""
	}
	return "vhost=" + url.QueryEscape(t.Vhost)
}

const defaultVhost = "__defaultVhost__"

// Dialer plays t from origin (host:port): a relay.Reader of the stream.
// ctx bounds the connect and the play request only.
type Dialer func(ctx context.Context, origin string, t Target) (relay.Reader, error)

// maxRedirects bounds a chain of RTMP 302s, so two origins that send a
// stream to each other cannot keep an edge busy.
const maxRedirects = 3

// RTMP dials origins over RTMP. props go into the connect command, to tell
// the origin who is pulling (see Identity).
func RTMP(props []amf.Property) Dialer {
	return func(ctx context.Context, origin string, t Target) (relay.Reader, error) {
		host := origin
		for range maxRedirects + 1 {
			u := url.URL{Scheme: "rtmp", Host: host, Path: "/" + t.App + "/" + t.Name, RawQuery: t.query()}
			c, err := rtmp.DialWith(ctx, "", "", u.String(), rtmp.DialOptions{ConnectProps: props})
			if err == nil {
				if err = c.Play(ctx); err != nil {
					c.Close()
				}
			}
			var st *rtmp.StatusError
			switch {
			case err == nil:
				return rtmpSource{c}, nil
			case errors.Is(err, rtmp.ErrStreamNotFound):
				return nil, fmt.Errorf("%w: %s", ErrNotFound, connlog.Clip(strings.ToValidUTF8(err.Error(), "?")))
			case errors.As(err, &st) && st.Redirect != "":
				next, perr := url.Parse(st.Redirect)
				if perr != nil || next.Host == "" {
					return nil, fmt.Errorf("origin %s redirected to a bad URL %q", host, connlog.Clip(strings.ToValidUTF8(st.Redirect, "?")))
				}
				host = next.Host
				if next.Port() == "" {
					host = net.JoinHostPort(next.Hostname(), "1935")
				}
			default:
				return nil, err
			}
		}
		return nil, fmt.Errorf("more than %d redirects from %s", maxRedirects, origin)
	}
}

// Identity is the connect properties by which an edge introduces itself
// upstream, after SRS's debug_srs_upnode: an origin's client list then
// shows which edge host and process pulls.
func Identity(host string, pid int) []amf.Property {
	return []amf.Property{{Key: "srs_sig", Value: "streamedge"}, {Key: "srs_server_ip", Value: host}, {Key: "srs_pid", Value: float64(pid)}}
}

type rtmpSource struct{ c *rtmp.Client }

func (s rtmpSource) ReadMedia() (relay.Message, error) {
	msg, err := s.c.ReadMedia()
	switch {
	case errors.Is(err, rtmp.ErrStreamNotFound):
		return relay.Message{}, fmt.Errorf("%w: %s", ErrNotFound, connlog.Clip(strings.ToValidUTF8(err.Error(), "?")))
	case errors.Is(err, io.EOF):
		return relay.Message{}, relay.ErrSourceEnded
	case err != nil:
		return relay.Message{}, err
	}
	return relay.Message{TypeID: msg.TypeID, Timestamp: msg.Timestamp, Payload: msg.Payload}, nil
}

func (s rtmpSource) Close() error { return s.c.Close() }

// maxTag bounds a tag from an origin: a video frame of a live stream is far
// smaller, and an origin sending garbage must not make us allocate 16 MiB.
const maxTag = 4 << 20

// UserAgent is how an edge's HTTP-FLV pull introduces itself, so that an
// origin can tell it from a player.
const UserAgent = "streamedge-edge"

// FLV dials origins over HTTP-FLV: GET http://origin/app/name.flv.
func FLV() Dialer {
	// Its own client: redirects are followed (3 at most, as for RTMP), and
	// nothing is shared with other users of http.DefaultClient.
	client := &http.Client{
		Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: -1},
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			return nil
		},
	}
	return func(ctx context.Context, origin string, t Target) (relay.Reader, error) {
		u := url.URL{Scheme: "http", Host: origin, Path: "/" + t.App + "/" + t.Name + ".flv", RawQuery: t.query()}
		// The request outlives ctx (which bounds only the connect), so it
		// gets its own cancel, which Close calls.
		reqCtx, cancel := context.WithCancel(context.Background())
		stop := context.AfterFunc(ctx, cancel)
		req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
		if err != nil {
			cancel()
			return nil, err
		}
		req.Header.Set("User-Agent", UserAgent)
		resp, err := client.Do(req)
		if !stop() {
			err = errors.Join(err, ctx.Err())
		}
		if err != nil {
			if resp != nil {
				resp.Body.Close()
			}
			cancel()
			return nil, err
		}
		src := &flvSource{resp: resp, cancel: cancel}
		switch {
		case resp.StatusCode == http.StatusNotFound:
			src.Close()
			return nil, fmt.Errorf("%w: HTTP 404", ErrNotFound)
		case resp.StatusCode != http.StatusOK:
			src.Close()
			return nil, fmt.Errorf("origin answered HTTP %d", resp.StatusCode)
		}
		src.r = flv.NewReader(resp.Body, flv.WithMaxTagSize(maxTag))
		if _, _, err := src.r.ReadHeader(); err != nil {
			src.Close()
			return nil, fmt.Errorf("not an FLV stream: %w", err)
		}
		return src, nil
	}
}

type flvSource struct {
	resp   *http.Response
	r      *flv.Reader
	cancel context.CancelFunc
}

func (s *flvSource) ReadMedia() (relay.Message, error) {
	for {
		tag, err := s.r.ReadTag()
		if errors.Is(err, io.EOF) {
			return relay.Message{}, relay.ErrSourceEnded
		}
		if err != nil {
			return relay.Message{}, err
		}
		switch tag.Type {
		case flv.TagAudio, flv.TagVideo, flv.TagScript:
			return relay.Message{TypeID: tag.Type, Timestamp: tag.Timestamp, Payload: tag.Data}, nil
		}
	}
}

func (s *flvSource) Close() error {
	s.cancel()
	return s.resp.Body.Close()
}
