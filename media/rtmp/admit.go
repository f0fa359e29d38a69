package rtmp

import (
	"cmp"
	"slices"
	"strings"

	"streamedge/media/hub"
	"streamedge/media/rtmp/amf"
)

// ConnectInfo is what a connect tells about its client, for an Admit
// function to decide on.
type ConnectInfo struct {
	App, TCURL, Addr string
	// Publisher: the client introduced itself as an encoder (flashVer
	// "FMLE/..." or type "nonprivate", as OBS and ffmpeg do when they
	// publish). A full host still admits publishers: one feeds many players.
	Publisher bool
	// Upstream: the client is an edge pulling (its connect carries the
	// srs_server_ip/srs_pid identity SRS's and streamedge's edges send).
	Upstream bool
}

// Refusal says why a connect is turned away.
type Refusal struct {
	Reason      string // a short code, for the log
	Description string // for the client: say the server is busy
	Redirect    string // an rtmp:// URL of a peer, sent FMS-style as ex.redirect
}

// SetAdmit installs the function every connect from a client (never a
// relay from another worker) is put to; nil admits everyone.
func (s *Server) SetAdmit(admit func(ConnectInfo) *Refusal) { s.admit.Store(&admit) }

func (s *Server) refusal(c *conn, app, tcURL string, obj amf.Object) *Refusal {
	f := s.admit.Load()
	if f == nil || *f == nil || c.relay {
		return nil
	}
	flashVer, _ := obj["flashVer"].(string)
	kind, _ := obj["type"].(string)
	return (*f)(ConnectInfo{App: app, TCURL: tcURL, Addr: c.nc.RemoteAddr().String(),
		Publisher: strings.HasPrefix(flashVer, "FMLE/") || kind == "nonprivate", Upstream: upnode(obj) != ""})
}

// PlayInfo is what a play tells about its client, for an AdmitPlay
// function to decide on: by now the stream is known, as it is not at
// connect.
type PlayInfo struct {
	Stream   hub.Key
	Addr     string
	Upstream bool // as in ConnectInfo
}

// SetAdmitPlay installs the function every play from a client (never a
// relay) is put to before it subscribes; nil admits everyone. A host that
// sends each stream's players to its own place (a cluster's resolver)
// decides here, where the stream is known.
func (s *Server) SetAdmitPlay(admit func(PlayInfo) *Refusal) { s.admitPlay.Store(&admit) }

func (s *Server) playRefusal(c *conn, key hub.Key) *Refusal {
	f := s.admitPlay.Load()
	if f == nil || *f == nil || c.relay {
		return nil
	}
	return (*f)(PlayInfo{Stream: key, Addr: c.nc.RemoteAddr().String(), Upstream: c.upnode != ""})
}

// refusalInfo is the info object of a refusal: NetConnection.Connect.Rejected
// and, with a peer, ex.code 302 and ex.redirect, as FMS and SRS do.
func refusalInfo(r *Refusal) []amf.Property {
	info := status("error", "NetConnection.Connect.Rejected", r.Description)
	if r.Redirect != "" {
		info = append(info, amf.Property{Key: "ex", Value: []amf.Property{{Key: "code", Value: 302.0}, {Key: "redirect", Value: r.Redirect}}})
	}
	return info
}

// reject answers a refused connect with an _error.
func (c *conn) reject(txID float64, r *Refusal) {
	c.writeCommand(0, "_error", txID, nil, refusalInfo(r))
}

// rejectPlay answers a refused play as SRS sends its RTMP 302: an onStatus
// of level error, which ends the play in ffmpeg and librtmp with the
// description, and carries the redirect for clients that follow one.
func (c *conn) rejectPlay(streamID uint32, r *Refusal) {
	c.writeCommand(streamID, "onStatus", 0, nil, refusalInfo(r))
}

// ShedNewest closes the newest playing client (relays to other workers are
// never shed), telling it why with an onStatus first, and reports whether
// there was one.
func (s *Server) ShedNewest(description string) bool {
	c := s.newestPlayer()
	if c == nil {
		return false
	}
	c.shed(description)
	return true
}

// NewestPlayer returns when the newest playing client started, or false.
func (s *Server) NewestPlayer() (since int64, ok bool) {
	if c := s.newestPlayer(); c != nil {
		return c.since.UnixNano(), true
	}
	return 0, false
}

func (s *Server) newestPlayer() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var players []*conn
	for c := range s.conns {
		if meta := c.session.Load(); meta != nil && meta.sub != nil && !c.relay && !c.shedding.Load() {
			players = append(players, c)
		}
	}
	if len(players) == 0 {
		return nil
	}
	return slices.MaxFunc(players, func(a, b *conn) int { return cmp.Compare(a.since.UnixNano(), b.since.UnixNano()) })
}

// shed tells the player why and closes it; its reconnect lands elsewhere.
func (c *conn) shed(description string) {
	if !c.shedding.CompareAndSwap(false, true) {
		return
	}
	c.log.Info("rtmp player shed", "reason", description)
	if meta := c.session.Load(); meta != nil {
		c.writeStatus(meta.streamID, "error", "NetConnection.Connect.Closed", description)
	}
	c.kill()
}
