package hub

// HostOffset is how far this process's timeline of the stream runs ahead
// of the host's, the owning worker's (zero on the owner), so a player
// handed from one worker to another keeps its own timeline. known is false
// while the stream has no publisher, or one whose first message has not
// fixed its rebase yet.
func (s *Stream) HostOffset() (offset uint32, known bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.publisher == nil || s.rebasePending {
		return 0, false
	}
	if !s.publisher.relay {
		return 0, true
	}
	return s.tsOffset, true
}
