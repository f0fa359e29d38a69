package supervisor

import "sort"

// registry is the host-wide map of published streams to the worker process
// (by generation, since a slot may hold a retiring and a new worker at once)
// that publishes them. Only the master loop touches it.
type registry struct {
	owners map[string]uint64
}

func newRegistry() *registry { return &registry{owners: make(map[string]uint64)} }

// claim gives stream to gen unless another worker holds it.
func (r *registry) claim(stream string, gen uint64) (owner uint64, ok bool) {
	if o, taken := r.owners[stream]; taken && o != gen {
		return o, false
	}
	r.owners[stream] = gen
	return gen, true
}

// release frees stream if gen holds it, and reports whether it did.
func (r *registry) release(stream string, gen uint64) bool {
	if o, taken := r.owners[stream]; taken && o == gen {
		delete(r.owners, stream)
		return true
	}
	return false
}

func (r *registry) owner(stream string) (uint64, bool) {
	o, ok := r.owners[stream]
	return o, ok
}

// of returns the streams gen holds, sorted.
func (r *registry) of(gen uint64) []string {
	var held []string
	for s, o := range r.owners {
		if o == gen {
			held = append(held, s)
		}
	}
	sort.Strings(held)
	return held
}

// drop frees every stream of a worker that is gone and returns them.
func (r *registry) drop(gen uint64) []string {
	gone := r.of(gen)
	for _, s := range gone {
		delete(r.owners, s)
	}
	return gone
}
