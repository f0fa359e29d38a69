package httpflv

// Kick ends the player with id (as Sessions names it) and reports whether
// there was one.
func (h *Handler) Kick(id, reason string) bool {
	h.mu.Lock()
	var found *player
	for p := range h.players {
		if p.id == id {
			found = p
			break
		}
	}
	h.mu.Unlock()
	if found == nil || !found.shedding.CompareAndSwap(false, true) {
		return false
	}
	found.log.Info("flv player kicked", "reason", reason)
	found.kill()
	return true
}
