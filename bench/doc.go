// Package bench is streamedge's load generator: RTMP and HTTP-FLV players,
// RTMP publishers (an FLV file looped in real time, or synthetic H.264- and
// AAC-shaped tags at a chosen bitrate), live progress, a summary with
// percentiles, JSON and a self-contained HTML report, the step scenario
// against a freshly started server, and the comparison `make bench` runs:
// streamedge and nginx-rtmp, one after the other, with the same publisher
// and players, each cell on a fresh server, in one table with the ratios.
// The server under test and the load client can run on cores of their own
// (pinned from the server's first instruction, and read back from /proc),
// and a step can offer more players than the server carries, to see what
// the ones it admits get.
//
// It talks to servers only over the network, so it measures any RTMP or
// HTTP-FLV server, not just ours. What it reports is what the clients really
// received: a player counts the media bytes and frames it parsed, and a
// client that got nothing is a failure, never a success with a zero in it.
//
// Runs are bounded: every run has a duration, the number of clients is
// capped, and targets must be on the loopback interface unless the caller
// allows remote ones, so a typo cannot point a load test at someone else.
//
// The players measure, per client: connect time (until the server accepted
// the play), time to first media and to the first keyframe (the startup a
// viewer waits for), received bitrate, the longest gap between frames,
// stalls (gaps over a second), disconnects and reconnects, and errors with
// their reason. Bitrates count media payload (FLV tag bodies, RTMP message
// bodies), the same bytes the server's own counters and logs report.
package bench
