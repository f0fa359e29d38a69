package supervisor

import "sort"

// registry is the host-wide map of published streams to the slot whose
// worker publishes them. Only the master loop touches it.
type registry struct {
	owners map[string]int
}

func newRegistry() *registry { return &registry{owners: make(map[string]int)} }

// claim gives stream to slot unless another slot holds it.
func (r *registry) claim(stream string, slot int) (owner int, ok bool) {
	if o, taken := r.owners[stream]; taken && o != slot {
		return o, false
	}
	r.owners[stream] = slot
	return slot, true
}

// release frees stream if slot holds it, and reports whether it did.
func (r *registry) release(stream string, slot int) bool {
	if o, taken := r.owners[stream]; taken && o == slot {
		delete(r.owners, stream)
		return true
	}
	return false
}

func (r *registry) owner(stream string) (int, bool) {
	o, ok := r.owners[stream]
	return o, ok
}

// dropSlot frees every stream of a slot whose worker is gone and returns them.
func (r *registry) dropSlot(slot int) []string {
	var gone []string
	for s, o := range r.owners {
		if o == slot {
			gone = append(gone, s)
			delete(r.owners, s)
		}
	}
	sort.Strings(gone)
	return gone
}
