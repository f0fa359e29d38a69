// Package hub holds the live streams of one process: who publishes each
// stream, its metadata and sequence headers, the last GOP, and the shared
// window of recent messages that every player reads from.
//
// Fan-out is built so that a message costs the publisher O(1) and each player
// zero allocations: the publisher appends the message (with its FLV and RTMP
// headers encoded once) to the stream's window and wakes the players; each
// player's goroutine takes everything it has not sent yet in one batch and
// writes it with one writev. A player that falls more than queue_length
// behind is skipped to the next keyframe; one that keeps falling behind is
// disconnected. Memory is bounded by the window, never by the slowest player.
package hub
