// Package transcode converts audio between AAC (what RTMP and HTTP-FLV
// carry) and Opus (what WebRTC carries) with libavcodec, through cgo.
//
// The codec work is in pipe.c, behind the cgo build constraint (and the
// notranscode tag, to leave it out on purpose): a build without cgo has the
// same API, Built is false and New returns ErrNotBuilt, so callers serve
// video only and say so. Everything else here is pure Go: the clock that
// gives output packets timestamps counted from samples, so a long stream
// does not drift and packets never overlap, and that follows the input
// only when it jumps, by whole frames.
//
// A Transcoder is used by one goroutine at a time. A packet the decoder
// refuses is dropped and counted; it never stops the stream.
package transcode
