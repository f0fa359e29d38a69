package hub

// Wire is a player's framing of the stream's messages when it is the one
// the hub encoded: every player with the same Wire gets the same bytes for
// the same messages, so the writer loop lays them out once per pass.
type Wire struct {
	RTMPChunkSize int // 0: FLV tags (header, body, trailer)
}

// segment is a run of the stream's messages laid out contiguously in one
// Wire, built during one pass for every player that is caught up. Players
// at the head of the stream all lack the same messages since the last
// tick, so each of them gets one iovec into the segment instead of two or
// three per message, and the copy is paid once per pass, not per player.
// A segment only grows: bytes handed to a player (maybe parked with them)
// are never written again, and the next pass starts a new one.
type segment struct {
	wire Wire
	from uint64 // the sequence number of the first message
	buf  []byte
	ends []int // ends[i] is where message from+i ends in buf
}

func (g *segment) to() uint64 { return g.from + uint64(len(g.ends)) }

// bytes returns the layout of batch, the messages from seq from on,
// growing the segment with those it lacks; nil when batch starts before
// the segment or after its end, so that the player frames its own.
func (g *segment) bytes(from uint64, batch []*Msg) []byte {
	if len(batch) == 0 || from < g.from || from > g.to() {
		return nil
	}
	for _, m := range batch[g.to()-from:] {
		g.append(m)
	}
	first := int(from - g.from)
	start := 0
	if first > 0 {
		start = g.ends[first-1]
	}
	return g.buf[start:g.ends[first+len(batch)-1]:g.ends[first+len(batch)-1]]
}

func (g *segment) append(m *Msg) {
	if cs := g.wire.RTMPChunkSize; cs > 0 {
		p := m.Payload
		n := min(len(p), cs)
		g.buf = append(append(g.buf, m.RTMPHeader()...), p[:n]...)
		for p = p[n:]; len(p) > 0; p = p[n:] {
			n = min(len(p), cs)
			g.buf = append(append(g.buf, m.RTMPContinuation()...), p[:n]...)
		}
	} else {
		g.buf = append(append(append(g.buf, m.flvHeader[:]...), m.Payload...), m.flvTrailer[:]...)
	}
	g.ends = append(g.ends, len(g.buf))
}

// segmentFor returns this pass's segment in wire, starting one at from
// when there is none yet.
func (f *fanout) segmentFor(wire Wire, from uint64) *segment {
	for _, g := range f.segs {
		if g.wire == wire {
			return g
		}
	}
	g := &segment{wire: wire, from: from}
	f.segs = append(f.segs, g)
	return g
}
