// Package hub holds the live streams of one process: who publishes each
// stream, its metadata and sequence headers, the last GOP, and the shared
// window of recent messages that every player reads from.
//
// Fan-out is built so that a message costs the publisher O(1) and each player
// zero allocations: the publisher appends the message (with its FLV and RTMP
// headers encoded once) to the stream's window. One writer loop per stream
// (fanout.go) wakes every merge period (mw_latency) and gives each player,
// in a fixed order, everything it has not sent yet in one non-blocking
// writev; a player whose socket is full waits for it on its own (outlet.go)
// and is skipped until then, so no player holds up the others and none has
// a goroutine, timer or deadline on the write path. A player that falls more
// than queue_length behind is skipped to the next keyframe; one that keeps
// falling behind is disconnected. Memory is bounded by the window, never by
// the slowest player.
package hub
