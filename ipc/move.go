package ipc

// Move tells a worker to hand N of its players (HTTP-FLV and RTMP; never
// publishers, relays or WebRTC) to the worker of slot To, whose handoff
// socket is ToAddr, at most PerSec a second (0: as fast as they go). ID
// matches the Moved answer; 0 asks for none.
type Move struct {
	ID     uint64
	N      int
	To     int
	ToAddr string
	Reason string
	PerSec int
}

// Moved answers a Move: players now on the other worker, players kept here
// (refused by the receiver, or unable to move), and players closed because
// the receiver took the socket and did not answer. Err says why a move
// stopped early.
type Moved struct {
	ID     uint64
	Moved  int
	Kept   int
	Closed int
	Err    string
}

func (*Move) Kind() Kind  { return KindMove }
func (*Moved) Kind() Kind { return KindMoved }

func (*Move) sealed()  {}
func (*Moved) sealed() {}
