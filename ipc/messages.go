package ipc

import (
	"strconv"
	"time"
)

// Message is a pointer to one of the message types of this package
// (*Hello, *Load, ...). The unexported method seals the set, so a type
// switch over it can be complete; the pointer receivers make a Hello value
// (rather than *Hello) a compile error instead of a case that never matches.
type Message interface {
	Kind() Kind
	sealed()
}

// Kind is the byte that says which message a frame holds. The values are on
// the wire: append new kinds, never renumber.
type Kind uint8

const (
	KindHello Kind = iota + 1
	KindConfigure
	KindReady
	KindLoad
	KindClaim
	KindClaimReply
	KindRelease
	KindLookup
	KindLookupReply
	KindStreamPublished
	KindCommand
	KindStreamUnpublished
	KindListClients
	KindClientList
	KindAdmission
	KindShed
	KindBurn
	KindKick
	KindKicked
	KindPlace
	KindPlaceReply
	KindPull
	KindUpstreamEvent
	KindMove
	KindMoved
	KindRedirect
	KindRedirectReply

	// kindLast is the highest kind in use; tests walk 1..kindLast to check
	// that every kind has a name, a decoder and a table entry.
	kindLast = KindRedirectReply
)

var kindNames = [...]string{
	KindHello:             "hello",
	KindConfigure:         "configure",
	KindReady:             "ready",
	KindLoad:              "load",
	KindClaim:             "claim",
	KindClaimReply:        "claim_reply",
	KindRelease:           "release",
	KindLookup:            "lookup",
	KindLookupReply:       "lookup_reply",
	KindStreamPublished:   "stream_published",
	KindCommand:           "command",
	KindStreamUnpublished: "stream_unpublished",
	KindListClients:       "list_clients",
	KindClientList:        "client_list",
	KindAdmission:         "admission",
	KindShed:              "shed",
	KindBurn:              "burn",
	KindKick:              "kick",
	KindKicked:            "kicked",
	KindPlace:             "place",
	KindPlaceReply:        "place_reply",
	KindPull:              "pull",
	KindUpstreamEvent:     "upstream_event",
	KindMove:              "move",
	KindMoved:             "moved",
	KindRedirect:          "redirect",
	KindRedirectReply:     "redirect_reply",
}

// String is the kind's name as it appears in logs ("claim_reply"), or
// "Kind(N)" for a byte that is no kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Hello is the first message a worker sends, before anything else, so the
// master can match the connection to the slot and process it started.
type Hello struct {
	Version    string // build version; the master kills a worker of another build
	Slot       int
	PID        int
	GOMAXPROCS int
}

// Configure carries the configuration to a worker after its Hello, and again
// on every successful reload. The YAML is passed as the master validated it,
// so a worker never reads a config file the master did not check.
type Configure struct {
	ConfigYAML []byte
	RelayDir   string // where the worker makes its private relay socket
}

// Ready says the worker is serving. RelayAddr is the path of its private
// unix socket that other workers pull streams from.
type Ready struct {
	RelayAddr string
	// HandoffAddr is its handoff socket: other workers hand it players
	// there (Move).
	HandoffAddr string `json:",omitempty"`
}

// Load is a worker's report, sent every second; the balancer decides on it.
type Load struct {
	Time           time.Time
	CPUPercent     float64 // of one core: 100 is one core busy
	RSSBytes       uint64
	Conns          ConnCounts // sessions by kind
	Connections    int        // every open connection, sessions or not yet
	BytesInPerSec  float64
	BytesOutPerSec float64
	BytesIn        uint64 // totals since the worker started
	BytesOut       uint64
	// Refusals counts new sessions refused since the worker started, by
	// "protocol/reason" (rtmp/capped, http_flv/host_full); Shed counts the
	// players it closed to shed load, ShedMoved those it moved instead.
	Refusals  map[string]uint64 `json:",omitempty"`
	Shed      uint64            `json:",omitempty"`
	ShedMoved uint64            `json:",omitempty"`
	// Handoffs counts players handed between workers since the worker
	// started: in (adopted here) and out (now on another worker).
	HandoffsIn  uint64 `json:",omitempty"`
	HandoffsOut uint64 `json:",omitempty"`
	// WriterLoad is how much of the merge period (mw_latency) the busiest
	// stream writer loop took for its last pass over its players: at 1 or
	// more that loop no longer keeps up and its players get less than the
	// stream's rate, so admission should stop short of it (0 with no
	// merge period, or no players).
	WriterLoad float64 `json:",omitempty"`
	// Transcoders are the worker's audio transcoders: one per RTMP stream
	// that WebRTC players get as Opus, whatever their number.
	Transcoders int `json:",omitempty"`
	// Streams must keep the frame under MaxFrame: at roughly 120 bytes per
	// entry, a worker with thousands of streams should send only the
	// busiest.
	Streams []StreamLoad
	// Junk counts, since the worker started, connections that ended
	// before they were of any use, by "protocol/reason"
	// ("rtmp/no_handshake", "http/no_handshake", ...).
	Junk map[string]uint64 `json:",omitempty"`
	// States counts every open connection by state (handshaking, idle,
	// playing, publishing); they add up to Connections.
	States map[string]int `json:",omitempty"`
}

// StreamLoad is one stream as seen by one worker.
type StreamLoad struct {
	Stream      string
	Publishing  bool // this worker has the publisher
	Relay       bool // this worker pulls the stream from another worker
	Players     int
	BytesIn     uint64
	BitrateKbps float64
	// Upstream is set on the worker that pulls the stream from an origin.
	Upstream *Upstream `json:",omitempty"`
	// RTC says what WebRTC players of the stream get, when it has some
	// here (or a transcoder).
	RTC *StreamRTC `json:",omitempty"`
}

// StreamRTC is a stream's WebRTC side on one worker.
type StreamRTC struct {
	Audio   string `json:"audio"`             // aac->opus, opus, video only: ...
	Warning string `json:"warning,omitempty"` // B-frames: browsers may stutter
}

// Upstream is an edge stream's pull from its origin, as its owner sees it.
type Upstream struct {
	Origin    string // in use, or last tried
	State     string // connecting | live | failed
	Since     time.Time
	Bytes     uint64 // media received, every origin
	Failovers int64
}

// Claim asks the master whether the worker may become the publisher of
// Stream; the host refuses a second publisher of one stream.
type Claim struct {
	ID     uint64 // echoed in the ClaimReply
	Stream string
}

// ClaimReply answers a Claim. If OK is false, Owner is the slot that already
// publishes the stream and Err says why, for the publisher's error message.
type ClaimReply struct {
	ID    uint64
	OK    bool
	Owner int
	Err   string
}

// Release tells the master that the worker's publisher of Stream left.
type Release struct {
	Stream string
}

// Lookup asks the master which worker owns Stream, so a player can be
// served through a relay.
type Lookup struct {
	ID     uint64 // echoed in the LookupReply
	Stream string
	// Forward asks instead where to forward a publish of an edge stream:
	// the reply lists the origins in the order to try.
	Forward bool `json:",omitempty"`
	// Peek asks only whether a worker has Stream: the master answers from
	// its registry and starts nothing (an edge's lookup otherwise makes a
	// worker pull the stream from an origin). A HEAD asks so.
	Peek bool `json:",omitempty"`
}

// LookupReply answers a Lookup.
type LookupReply struct {
	ID        uint64
	Found     bool
	Owner     int
	RelayAddr string
	// Err says why an edge stream cannot be had (its origins said not
	// found a moment ago), for the player's error.
	Err string `json:",omitempty"`
	// Puller says the asker itself is to pull the stream (its Pull came
	// first): no worker was ready to take it yet, as at start.
	Puller bool `json:",omitempty"`
	// Origins and UpVhost answer a Forward lookup.
	Origins []string `json:",omitempty"`
	UpVhost string   `json:",omitempty"`
}

// StreamPublished is broadcast by the master to all workers when a stream
// gets a publisher, so players waiting for it can start relaying.
type StreamPublished struct {
	Stream    string
	Owner     int
	RelayAddr string
}

// StreamUnpublished is broadcast by the master to all workers when a
// stream's publisher has left (Owner sent a Release, or died), so relays of
// it can end.
type StreamUnpublished struct {
	Stream string
	Owner  int
	// Err is why an edge stream's upstream pull ended, when it failed:
	// players waiting for it get this error instead of waiting on.
	Err      string `json:",omitempty"`
	NotFound bool   `json:",omitempty"` // the origins do not have the stream
}

// ListClients asks a worker for its sessions, for the API's client list.
type ListClients struct {
	ID uint64 // echoed in the ClientList
}

// MaxClientsListed bounds a ClientList so its frame stays under MaxFrame
// (an entry is about 150 bytes); Truncated says some were left out.
const MaxClientsListed = 5000

// ClientList answers ListClients.
type ClientList struct {
	ID        uint64
	Clients   []Client
	Truncated bool
}

// Client is one session of a worker.
type Client struct {
	ID        string // the worker's name for the session, for Kick
	Kind      ConnKind
	Addr      string // the peer's address ("relay" for another worker)
	Stream    string // vhost/app/name
	Since     time.Time
	BytesSent uint64 // media sent to a player
	BytesIn   uint64 // media received from a publisher
	Upnode    string `json:",omitempty"` // an edge pulling: "host pid N", as its connect said
}

// Command is an order from the master, one of the Cmd names. Reason is for
// the worker's log: every drain and quit says why.
type Command struct {
	Name   string
	Reason string
}

// The commands of the master, after nginx's channel commands.
const (
	CmdQuit       = "quit"        // fast: close everything now
	CmdDrain      = "drain"       // graceful: stop accepting, let sessions end
	CmdReopenLogs = "reopen_logs" // after logrotate (SIGUSR1 on the master)
)

func (*Hello) Kind() Kind             { return KindHello }
func (*Configure) Kind() Kind         { return KindConfigure }
func (*Ready) Kind() Kind             { return KindReady }
func (*Load) Kind() Kind              { return KindLoad }
func (*Claim) Kind() Kind             { return KindClaim }
func (*ClaimReply) Kind() Kind        { return KindClaimReply }
func (*Release) Kind() Kind           { return KindRelease }
func (*Lookup) Kind() Kind            { return KindLookup }
func (*LookupReply) Kind() Kind       { return KindLookupReply }
func (*StreamPublished) Kind() Kind   { return KindStreamPublished }
func (*Command) Kind() Kind           { return KindCommand }
func (*StreamUnpublished) Kind() Kind { return KindStreamUnpublished }
func (*ListClients) Kind() Kind       { return KindListClients }
func (*ClientList) Kind() Kind        { return KindClientList }
func (*Pull) Kind() Kind              { return KindPull }
func (*UpstreamEvent) Kind() Kind     { return KindUpstreamEvent }

func (*Hello) sealed()             {}
func (*Configure) sealed()         {}
func (*Ready) sealed()             {}
func (*Load) sealed()              {}
func (*Claim) sealed()             {}
func (*ClaimReply) sealed()        {}
func (*Release) sealed()           {}
func (*Lookup) sealed()            {}
func (*LookupReply) sealed()       {}
func (*StreamPublished) sealed()   {}
func (*Command) sealed()           {}
func (*StreamUnpublished) sealed() {}
func (*ListClients) sealed()       {}
func (*ClientList) sealed()        {}
func (*Pull) sealed()              {}
func (*UpstreamEvent) sealed()     {}

// Pull makes the worker the host's one puller of an edge stream: it pulls
// Stream from Origins, trying them in the order given (the master's
// balance and backoff), over Protocol ("rtmp" or "flv"), asking the origin
// for UpVhost (empty: the stream's own vhost).
type Pull struct {
	Stream   string
	Origins  []string
	Protocol string
	UpVhost  string `json:",omitempty"`
}

// UpstreamEvent tells the master what became of an edge pull: an origin
// went live or failed (for its backoff and metrics), or the pull ended
// (State "ended"; Err empty when it ended for want of players).
type UpstreamEvent struct {
	Stream   string
	Origin   string `json:",omitempty"`
	State    string // live | failed | ended
	Err      string `json:",omitempty"`
	NotFound bool   `json:",omitempty"`
	Bytes    uint64 `json:",omitempty"` // at the end: media received in all
}

// The states of an UpstreamEvent.
const (
	UpstreamLive   = "live"
	UpstreamFailed = "failed"
	UpstreamEnded  = "ended"
)
