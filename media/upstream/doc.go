// Package upstream pulls a stream from an edge's origins into the hub: an
// RTMP source (which follows an origin's 302 and tells "no such stream"
// from other failures) and an HTTP-FLV source, and a Puller that fails
// over between origins while the players stay attached.
//
// Each origin session is a media/relay Pull, the loop every relay runs, so
// it publishes anew into the hub, which rebases the timestamps: players
// resume on the new origin's first keyframe, and time never goes back for
// them. What this package adds is the origins: how to reach one, which to
// try next, and when one has gone silent.
package upstream
