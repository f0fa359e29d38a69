package rtmp

import (
	"bufio"
	"io"
	"sync"
)

// A connection's setup (handshake, connect, createStream, play) needs more
// memory than the session it leads to: a 16 KiB read buffer and 4.5 KiB of
// handshake packets, where a player then reads with 256 bytes. Made fresh
// per connection, they are garbage the moment it plays, and with 1,000s of
// players connecting at 500/s that garbage is what the heap grows by
// between two collections and what the process keeps resident. Lent from
// pools, a few of each serve every connection being set up at one time.

// setupReadBuffer is the read buffer of a connection until it plays;
// a publisher keeps it.
const setupReadBuffer = 16 << 10

var setupReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, setupReadBuffer) }}

// lendSetupReader returns a setupReadBuffer reader of r.
func lendSetupReader(r io.Reader) *bufio.Reader {
	br := setupReaders.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

// returnSetupReader takes back a reader lendSetupReader gave, once its
// connection reads with another or no more. Its bytes are dropped: the
// caller has copied what it still needs.
func returnSetupReader(br *bufio.Reader) {
	if br.Size() != setupReadBuffer {
		return // not one of ours
	}
	br.Reset(nil) // drops the connection's journal and socket
	setupReaders.Put(br)
}

// handshakeBuf holds C0+C1 as read and S0+S1+S2 as written.
type handshakeBuf struct {
	c0c1 [1 + handshakeSize]byte
	out  [1 + 2*handshakeSize]byte
}

var handshakeBufs = sync.Pool{New: func() any { return new(handshakeBuf) }}
