package ipc

import "time"

// Admission tells every worker whether the host takes new players. A full
// host (supervisor/balance's host-full rule) refuses them cleanly: HTTP-FLV
// 503 with Retry-After or a 302 to a peer, RTMP connect rejected with
// Description. Publishers are still admitted, up to each worker's cap.
type Admission struct {
	Refuse      bool
	Reason      string // a short code: all_workers_hot, host_cpu_high, ...
	Description string // what a refused client is told
}

// Shed tells one worker to shed players at PerSec, newest first, until
// told 0: each is moved with the live handoff to one of To (by weight)
// where it can move, else closed and told Reason where its protocol can
// say it.
type Shed struct {
	PerSec int
	Reason string
	To     []ShedTarget `json:",omitempty"`
}

// ShedTarget is a worker that takes shed players: its slot, its handoff
// socket and its share of them.
type ShedTarget struct {
	Slot   int
	Addr   string
	Weight int
}

// Burn makes a worker burn real CPU (Percent of one core for For), for the
// balancer's tests; the master sends it only with debug.fault_injection.
// PerPlayer makes Percent a share per player it serves (at most a core):
// load that moves with its players, as real load does.
type Burn struct {
	Percent   int
	For       time.Duration
	PerPlayer bool `json:",omitempty"`
}

// Redirect asks the master, in a cluster, which other host a player of
// Stream ("vhost/app/name") refused by this full host should go to: the
// one the cluster's resolver picks for the stream, this host passed over.
type Redirect struct {
	ID     uint64 // echoed in the RedirectReply
	Stream string
}

// RedirectReply answers a Redirect: the host and its advertised addresses
// (host:port), or Err when no host of the cluster can take the player.
type RedirectReply struct {
	ID   uint64
	Host string `json:",omitempty"`
	HTTP string `json:",omitempty"`
	RTMP string `json:",omitempty"`
	Err  string `json:",omitempty"`
}

func (*Admission) Kind() Kind { return KindAdmission }
func (*Shed) Kind() Kind      { return KindShed }
func (*Burn) Kind() Kind      { return KindBurn }

func (*Redirect) Kind() Kind      { return KindRedirect }
func (*RedirectReply) Kind() Kind { return KindRedirectReply }

func (*Admission) sealed()     {}
func (*Shed) sealed()          {}
func (*Burn) sealed()          {}
func (*Redirect) sealed()      {}
func (*RedirectReply) sealed() {}
