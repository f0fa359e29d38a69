package hub

// HostOffset is how far this process's timeline of the stream runs ahead
// of the host's, the owning worker's (zero on the owner), so a player
// handed from one worker to another keeps its own timeline. known is false
// while the stream has no publisher, or one whose first media message has
// not fixed its offset yet. A relay's input is the owner's output, which is
// monotonic with steps the timeline takes as they come, so the relay's
// offset stays what its first message set.
func (s *Stream) HostOffset() (offset uint32, known bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.publisher == nil || s.tl.restart || !s.tl.started {
		return 0, false
	}
	if !s.publisher.relay {
		return 0, true
	}
	return s.tl.offset, true
}

// seekSlack is how far before a handed-over player's mark a seek starts:
// tracks interleave loosely, so a message just before the mark may come
// after one past it. The player's own filter drops what it already sent.
const seekSlack = 1000

// SeekAfter places a player handed over from another process, before its
// first Fetch, at the window's first message from about ts (this stream's
// timeline) on, with no headers: the client has them. It reports false,
// and leaves the player to start as any new one (headers, then the cached
// GOP), when the window does not reach back to ts.
func (sub *Subscriber) SeekAfter(ts uint32) bool {
	s := sub.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sub.primed || s.publisher == nil || s.win.len() == 0 || int32(s.win.at(s.win.tail).Timestamp-ts) > 0 {
		return false
	}
	from := ts - seekSlack
	seq := s.win.tail
	for seq < s.win.head && int32(s.win.at(seq).Timestamp-from) < 0 {
		seq++
	}
	sub.primed, sub.next, sub.needKey = true, seq, false
	return true
}
