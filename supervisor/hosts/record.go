package hosts

import (
	"net/url"
	"strings"
	"time"
)

// Record is what a master writes about its host each heartbeat, as JSON
// under hostKey(ID).
type Record struct {
	ID        string    `json:"id"`
	Advertise Advertise `json:"advertise"`
	// Resolve: the resolver may send players here.
	Resolve bool `json:"resolve"`
	Load    Load `json:"load"`
	// Full: the host is over its own overload rule and refuses new players.
	Full      bool      `json:"full"`
	Published int       `json:"published"` // streams published here
	Version   string    `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Advertise is how clients and other hosts reach a host.
type Advertise struct {
	RTMP string `json:"rtmp"` // host:port
	HTTP string `json:"http"` // host:port: HTTP-FLV and WHEP
	RTC  string `json:"rtc,omitempty"`
}

// Load is a host's load as its master last saw it.
type Load struct {
	CPUPercent     float64 `json:"cpu_percent"` // of all cores
	Connections    int     `json:"connections"`
	Players        int     `json:"players"`
	BytesOutPerSec float64 `json:"bytes_out_per_sec"`
	// Capacity is the host's connection limit; 0: none configured.
	Capacity int `json:"capacity"`
}

// URLs are where a player of one stream goes on one host.
type URLs struct {
	RTMP string `json:"rtmp"`
	FLV  string `json:"flv"`
	WHEP string `json:"whep,omitempty"` // only for hosts that advertise rtc
}

// PlayURLs builds the URLs of stream ("vhost/app/name", or "app/name" on
// the default vhost) on the host of r.
func (r Record) PlayURLs(stream string) URLs {
	vhost, app, name := SplitStream(stream)
	q := ""
	if vhost != DefaultVhost {
		q = "?vhost=" + url.QueryEscape(vhost)
	}
	u := URLs{
		RTMP: "rtmp://" + r.Advertise.RTMP + "/" + app + "/" + name + q,
		FLV:  "http://" + r.Advertise.HTTP + "/" + app + "/" + name + ".flv" + q,
	}
	if r.Advertise.RTC != "" {
		v := url.Values{"app": {app}, "stream": {name}}
		if vhost != DefaultVhost {
			v.Set("vhost", vhost)
		}
		u.WHEP = "http://" + r.Advertise.HTTP + "/rtc/v1/whep/?" + v.Encode()
	}
	return u
}

// DefaultVhost is the vhost of a stream that names none (SRS's name).
const DefaultVhost = "__defaultVhost__"

// SplitStream takes "vhost/app/name" (the registry's form) apart; the app
// may have several segments, and a name of two segments is app/name on
// the default vhost.
func SplitStream(stream string) (vhost, app, name string) {
	parts := strings.Split(stream, "/")
	switch {
	case len(parts) < 2:
		return DefaultVhost, "", stream
	case len(parts) == 2:
		return DefaultVhost, parts[0], parts[1]
	}
	return parts[0], strings.Join(parts[1:len(parts)-1], "/"), parts[len(parts)-1]
}
