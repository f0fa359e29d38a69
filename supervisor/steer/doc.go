// Package steer is the kernel mechanism under the balancer: it decides
// nothing, it makes the master-held SO_REUSEPORT sockets of each address
// send new connections where supervisor/balance said.
//
// Two tiers, picked at start by Probe on a throwaway group:
//
//   - cBPF: a classic BPF program on the reuseport group
//     (SO_ATTACH_REUSEPORT_CBPF). It returns an index into the group's
//     sockets, in the order they joined it (listen()); an index past the end
//     falls back to the kernel's 4-tuple hash. A SYN gives the program no
//     bytes to read, so it loads SKF_AD_RANDOM and walks a weighted jump
//     table. Re-attaching is an atomic swap of the group's program.
//   - pause: where the kernel refuses the program (an MPTCP listener does,
//     with EOPNOTSUPP), a slot leaves the group by shutdown(SHUT_RD) of the
//     master's copy of its socket, and rejoins with listen(). With
//     net.ipv4.tcp_migrate_req=1 the connections queued on it move to the
//     other sockets. While out, the worker's accept returns EINVAL.
//
// Membership order matters to the program: when a socket leaves, the last
// one moves into its place, and one that rejoins goes to the end. Group
// keeps that order as the kernel does and rebuilds the program whenever it
// changes, so an index never names the wrong slot.
package steer
