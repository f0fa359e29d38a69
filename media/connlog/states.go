package connlog

import "sync/atomic"

// State is where an open connection is in its life. Every connection a
// server accepted is in exactly one, so the counts add up to all that are
// open: the blind spot they close is connections that are not (yet)
// sessions, which no per-session count shows.
type State int

// The states, in the order reports list them.
const (
	Handshaking State = iota // accepted; no handshake (RTMP) or no whole request (HTTP) yet
	Idle                     // shook hands, or an HTTP keep-alive between requests; no session
	Playing                  // a player (relays to other workers included)
	Publishing               // a publisher
	numStates
)

var stateNames = [numStates]string{"handshaking", "idle", "playing", "publishing"}

func (s State) String() string { return stateNames[s] }

// States lists every state.
func States() []State { return []State{Handshaking, Idle, Playing, Publishing} }

// Open counts open connections by state; safe from any goroutine.
type Open struct{ n [numStates]atomic.Int64 }

// Enter counts a new connection in s.
func (o *Open) Enter(s State) { o.n[s].Add(1) }

// Move moves a connection from one state to another.
func (o *Open) Move(from, to State) {
	if from != to {
		o.n[to].Add(1)
		o.n[from].Add(-1)
	}
}

// Leave uncounts a connection that closed in s.
func (o *Open) Leave(s State) { o.n[s].Add(-1) }

// Count is the connections now in s.
func (o *Open) Count(s State) int { return int(o.n[s].Load()) }
