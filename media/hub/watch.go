package hub

// watchers let a stream's puller (a relay, an origin pull) wait for its
// players to come and go without polling: each channel is closed once, when
// the stream has players again or none left. Relays of other workers are not
// players here.
type watchers struct {
	joined, emptied chan struct{}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Joined returns a channel closed once the stream has a player; at once if
// it has one now.
func (s *Stream) Joined() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.players-s.relays > 0 {
		return closedChan
	}
	if s.watch.joined == nil {
		s.watch.joined = make(chan struct{})
	}
	return s.watch.joined
}

// Emptied returns a channel closed once the stream has no player; at once if
// it has none now.
func (s *Stream) Emptied() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.players-s.relays == 0 {
		return closedChan
	}
	if s.watch.emptied == nil {
		s.watch.emptied = make(chan struct{})
	}
	return s.watch.emptied
}

// playersChangedLocked wakes the watchers after a player came or went.
func (s *Stream) playersChangedLocked() {
	n := s.players - s.relays
	if n > 0 && s.watch.joined != nil {
		close(s.watch.joined)
		s.watch.joined = nil
	}
	if n == 0 && s.watch.emptied != nil {
		close(s.watch.emptied)
		s.watch.emptied = nil
	}
}
