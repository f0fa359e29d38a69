package hub

// ring is the stream's window of recent messages, addressed by a sequence
// number that only grows. Players hold a sequence number, not a pointer, so
// the window can drop old messages without asking them.
type ring struct {
	buf  []*Msg // length is a power of two
	head uint64 // sequence number the next push gets
	tail uint64 // sequence number of the oldest message kept
}

func (r *ring) len() int { return int(r.head - r.tail) }

func (r *ring) push(m *Msg) {
	if r.len() == len(r.buf) {
		r.grow()
	}
	r.buf[r.head&uint64(len(r.buf)-1)] = m
	r.head++
}

func (r *ring) grow() {
	nb := make([]*Msg, max(64, 2*len(r.buf)))
	for seq := r.tail; seq < r.head; seq++ {
		nb[seq&uint64(len(nb)-1)] = r.at(seq)
	}
	r.buf = nb
}

// at returns the message with sequence number seq, which must be in [tail, head).
func (r *ring) at(seq uint64) *Msg { return r.buf[seq&uint64(len(r.buf)-1)] }

// dropBefore forgets every message older than seq.
func (r *ring) dropBefore(seq uint64) {
	for ; r.tail < seq && r.tail < r.head; r.tail++ {
		r.buf[r.tail&uint64(len(r.buf)-1)] = nil
	}
}
