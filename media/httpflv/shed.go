package httpflv

import (
	"cmp"
	"slices"
)

// NewestPlayer returns when the newest player started, or false.
func (h *Handler) NewestPlayer() (since int64, ok bool) {
	if p := h.newestPlayer(); p != nil {
		return p.since.UnixNano(), true
	}
	return 0, false
}

// ShedNewest closes the newest player so it reconnects elsewhere, and
// reports whether there was one. HTTP-FLV has no way to say why: the log
// line does.
func (h *Handler) ShedNewest(reason string) bool {
	p := h.newestPlayer()
	if p == nil || !p.shedding.CompareAndSwap(false, true) {
		return false
	}
	p.log.Info("flv player shed", "reason", reason)
	p.kill()
	return true
}

func (h *Handler) newestPlayer() *player {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ps []*player
	for p := range h.players {
		if !p.shedding.Load() {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return slices.MaxFunc(ps, func(a, b *player) int { return cmp.Compare(a.since.UnixNano(), b.since.UnixNano()) })
}
