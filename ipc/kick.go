package ipc

// Kick asks a worker to end one session (DELETE /api/v1/clients/{id}).
// Client is the worker's own name for it, as ClientList gave it; ID matches
// the Kicked answer to the request.
type Kick struct {
	ID     uint64
	Client string
	Reason string
}

// Kicked answers a Kick: Found is false when the worker has no such
// session (it ended, or the id is of another worker's).
type Kicked struct {
	ID    uint64
	Found bool
}

func (*Kick) Kind() Kind   { return KindKick }
func (*Kicked) Kind() Kind { return KindKicked }

func (*Kick) sealed()   {}
func (*Kicked) sealed() {}
