package ipc

// Place asks the master where a WebRTC request goes. With Slot < 0 it is a
// new session (a WHIP or WHEP offer): the master picks the worker that
// should take it. With Slot >= 0 it asks for that slot's worker, which owns
// a session whose PATCH or DELETE landed elsewhere. Either way the reply
// names the worker's private socket, where the request is forwarded.
type Place struct {
	ID   uint64 // echoed in the PlaceReply
	Slot int
}

// PlaceReply answers a Place. Found is false when no ready worker fits.
type PlaceReply struct {
	ID        uint64
	Found     bool
	Slot      int
	RelayAddr string
}

func (*Place) Kind() Kind      { return KindPlace }
func (*PlaceReply) Kind() Kind { return KindPlaceReply }

func (*Place) sealed()      {}
func (*PlaceReply) sealed() {}
