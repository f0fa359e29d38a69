// Package rtmp is the RTMP server and client of streamedge. The handshake is
// github.com/yutopp/go-rtmp's; the chunk layer (media/rtmp/chunk) and AMF
// (media/rtmp/amf) are ours, because players must share one encoding of each
// media message (go-rtmp encodes and flushes chunk by chunk per connection)
// and because a command from the network must not be able to make us
// allocate by a length it claims.
//
// Servers take a net.Listener and never bind ports themselves, so a worker
// process can run them on sockets it inherited from the master.
package rtmp
