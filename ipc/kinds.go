package ipc

import "slices"

// ConnKind names what a connection does: the key of a load report's
// connection counts, a listed client's kind and the "kind" label of the
// streamedge_worker_connections metric. A new protocol adds its kinds here,
// as rows of connKinds, so the master counts them without knowing the
// protocol.
type ConnKind string

// The kinds of connection the workers report.
const (
	ConnRTMPPublish ConnKind = "rtmp_publish"
	ConnRTMPPlay    ConnKind = "rtmp_play"
	ConnFLVPlay     ConnKind = "flv_play"
	ConnRelayIn     ConnKind = "relay_in"  // a relay this worker pulls from another worker
	ConnRelayOut    ConnKind = "relay_out" // another worker's relay playing from this one
	ConnRTCPublish  ConnKind = "rtc_publish"
	ConnRTCPlay     ConnKind = "rtc_play"
)

// Role is what a kind of connection is to a stream, so the master can add
// up publishers and players across protocols.
type Role uint8

// The roles of a connection.
const (
	RoleOther Role = iota
	RolePublisher
	RolePlayer
	RoleRelayIn
	RoleRelayOut
)

// connKinds is the table of every kind a worker reports.
var connKinds = map[ConnKind]Role{
	ConnRTMPPublish: RolePublisher,
	ConnRTMPPlay:    RolePlayer,
	ConnFLVPlay:     RolePlayer,
	ConnRelayIn:     RoleRelayIn,
	ConnRelayOut:    RoleRelayOut,
	ConnRTCPublish:  RolePublisher,
	ConnRTCPlay:     RolePlayer,
}

// Role says what a connection of kind k is; RoleOther for a kind not in
// the table.
func (k ConnKind) Role() Role { return connKinds[k] }

// Known tells whether k is in the table of kinds.
func (k ConnKind) Known() bool {
	_, ok := connKinds[k]
	return ok
}

// ConnKinds lists every known kind, sorted, so that metrics show a zero for
// a kind nobody uses rather than no series at all.
func ConnKinds() []ConnKind {
	kinds := make([]ConnKind, 0, len(connKinds))
	for k := range connKinds {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// ConnCounts are a worker's open sessions by kind. A kind with no
// connections may be missing.
type ConnCounts map[ConnKind]int

// ByRole adds the counts of every kind of role r.
func (c ConnCounts) ByRole(r Role) int {
	n := 0
	for k, v := range c {
		if k.Role() == r {
			n += v
		}
	}
	return n
}
