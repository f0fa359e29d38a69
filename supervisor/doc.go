// Package supervisor is the master process: it owns every public socket,
// forks the workers, restarts the ones that die, keeps the host-wide
// registry of who publishes which stream, gathers load reports, and serves
// the API.
//
// Like nginx's master it is one loop: IPC messages, child exits, timers,
// ticks and API questions are events handled by a single goroutine that
// owns all the state, so nothing here needs a lock beyond the event channel.
//
// The public sockets are rows of one table (socketTable: name, network,
// address): a TCP row is one plain-TCP SO_REUSEPORT listener per slot, all
// in one group, so a slot's queued connections wait for its next worker
// instead of being reset; a UDP row is a socket per slot on a port of its
// own. A worker inherits each by its row's name.
//
// Workers are started through a seam, Options.StartWorker, which returns a
// Process (Send, Receive, Kill, Pid, Exited); with the master's clock it
// lets the tests drive the event handling with fake workers. startIn is the
// one way a worker is put in a slot, with one failure policy: backoff, then
// try again. A reload is a pure plan (planReload), then provisioning (the
// step that may fail, before anything running is touched), then apply.
package supervisor
