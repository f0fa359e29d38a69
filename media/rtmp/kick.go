package rtmp

// Kick ends the session with id (as Sessions names it), telling a player
// why first, and reports whether there was one. A kicked publisher's
// stream ends for its players as if it had stopped.
func (s *Server) Kick(id, reason string) bool {
	s.mu.Lock()
	var found *conn
	for c := range s.conns {
		if c.id == id && !c.relay {
			found = c
			break
		}
	}
	s.mu.Unlock()
	if found == nil || !found.shedding.CompareAndSwap(false, true) {
		return false
	}
	found.log.Info("rtmp session kicked", "reason", reason)
	if meta := found.session.Load(); meta != nil {
		if meta.sub != nil {
			found.writeStatus(meta.streamID, "error", "NetConnection.Connect.Closed", reason)
		}
	}
	found.kill()
	return true
}
