package relay

import (
	"context"
	"io"

	"streamedge/media/rtmp"
)

// RTMP plays a stream over RTMP: URL names it (rtmp://host/app/stream),
// and Network and Address, when set, say where to connect instead of the
// URL's host, such as another worker's private unix socket.
type RTMP struct {
	URL              string
	Network, Address string
}

func (s RTMP) String() string {
	if s.Address != "" {
		return s.Network + ":" + s.Address
	}
	return s.URL
}

// Open dials and plays the stream.
func (s RTMP) Open(ctx context.Context) (Reader, error) {
	var c *rtmp.Client
	var err error
	if s.Address != "" {
		c, err = rtmp.DialVia(ctx, s.Network, s.Address, s.URL)
	} else {
		c, err = rtmp.Dial(ctx, s.URL)
	}
	if err != nil {
		return nil, err
	}
	if err := c.Play(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return rtmpReader{c}, nil
}

type rtmpReader struct{ c *rtmp.Client }

func (r rtmpReader) ReadMedia() (Message, error) {
	m, err := r.c.ReadMedia()
	if err == io.EOF {
		return Message{}, ErrSourceEnded
	}
	return Message{TypeID: m.TypeID, Timestamp: m.Timestamp, Payload: m.Payload}, err
}

func (r rtmpReader) Close() error { return r.c.Close() }
