// Package amf encodes and decodes the AMF0 values that RTMP commands and
// metadata carry. The decoder trusts nothing the peer says: it bounds
// nesting depth, never allocates by a declared length larger than the
// bytes that remain, and charges every value its memory against a budget
// (Limits), so a hostile command cannot exhaust memory or stack.
package amf
