// Package supervisor is the master process: it owns every public socket
// (one SO_REUSEPORT listener per worker slot and protocol, so a slot's
// queued connections wait for its next worker instead of being reset), forks
// the workers, restarts the ones that die, keeps the host-wide registry of
// who publishes which stream, gathers load reports, and serves the API.
//
// Like nginx's master it is one loop: IPC messages, child exits, ticks and
// API questions are events handled by a single goroutine that owns all the
// state, so nothing here needs a lock beyond the event channel.
package supervisor
