// Package balance is the master's load-balancing policy, and only that:
// Decide takes what the master knows (every slot's latest load report, the
// host's sample, and the state earlier actions left behind) and returns the
// actions to take. It opens nothing, reads no clock and keeps no state, so
// every rule is a row of a table test; supervisor applies the actions.
//
// The rules follow SRS's load-balancing article and go where SRS stops:
//
//   - Weights. Every eligible slot gets a share of new connections from its
//     headroom on its scarcest resource: CPU against worker_cpu_high,
//     connections against max_connections, bytes out against
//     worker_bytes_out_max. Long-lived sessions make round robin useless:
//     a restarted worker would stay half-empty for the life of its
//     neighbours' players. So a slot's weight is its headroom above the
//     busiest eligible slot, plus a small share of its own headroom that
//     makes an even group share evenly: the emptiest slot fills first.
//   - Hot. A worker over worker_cpu_high for hot_for is hot: weight 0
//     until it falls under worker_cpu_low (hysteresis, so one noisy second
//     does not flap it). A worker at max_connections is capped: weight 0.
//   - Writer full. A worker whose busiest stream writer loop needs
//     writer_load_high of its tick on two reports in a row takes no new
//     players (weight 0) until under writer_load_low. A loop is one
//     goroutine, so CPU to spare does not help it; the players it has keep
//     full rate and are not shed.
//   - Shed. A worker hot for shed_after while another has headroom closes
//     players at a bounded rate (shed_rate of them per second, at most
//     shed_max), newest first, until it cools; they reconnect and the
//     weights land them elsewhere.
//   - Retire. One hot for retire_after (again while another has headroom)
//     is replaced in its slot by a fresh process; one retire at a time.
//   - Host full. Every worker hot, capped or writer full, host CPU over
//     host_cpu_high, host bytes out over host_bytes_out_max, or
//     host_max_connections reached: workers refuse new players cleanly
//     until every figure is back under 90 % of its limit (and not every
//     worker is hot, capped or writer full).
//   - Pause. A slot with no ready worker leaves the reuseport group, so no
//     connection waits on it; with the pause tier (no cBPF) a hot, writer
//     full, capped or held slot leaves it too. Never the last open slot: a connection that
//     waits beats one that is reset.
//
// Every action carries a reason code (a metrics label) and the figures
// behind it (for the log line).
package balance
