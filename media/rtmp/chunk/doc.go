// Package chunk is the RTMP chunk layer: it splits messages into chunks and
// joins chunks back into messages. It is pure (no sockets, no goroutines) so
// that the hub can encode each media message's chunk headers once and every
// player can send the same bytes.
package chunk
