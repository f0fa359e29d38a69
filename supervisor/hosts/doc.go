// Package hosts makes several streamedge hosts one cluster through a store
// they already trust (Redis), not a protocol of their own.
//
// Each master writes a record of its host (addresses to advertise, load,
// whether it is full) and the names of the streams published on it, every
// heartbeat, with a TTL: a host that dies simply stops being there within
// the TTL, and a clean quit deletes its keys at once. Workers never talk to
// the store. Every master reads the others' records each heartbeat and keeps
// the last view it read, so a store that goes away costs freshness, never
// service: the resolver answers from that view and says it is stale.
//
// The resolver is consistent hashing with bounded loads (Mirrokni, Thorup
// and Zadimoghaddam, 2016): a stream's players all go to the host its name
// hashes to, which keeps one upstream pull per stream in the cluster, until
// that host carries more than c times the average load; then they go to the
// next host on the ring. Ring is that policy, pure; Store is the I/O.
package hosts
