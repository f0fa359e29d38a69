// Package ipc is everything the streamedge master and its worker processes
// share: the names of the sockets a worker inherits, the sealed set of
// messages they exchange, the framed codec those messages travel in, and a
// connection type over a unix stream socket. It imports nothing else of
// streamedge, so neither side can reach into the other through it.
//
// # Sockets are inherited by name
//
// The master owns every public socket, and a worker never binds a public
// port: it binds the listeners of its socket table once, per worker slot, and hands them to each worker it
// starts through exec.Cmd.ExtraFiles, together with the worker's end of the
// IPC socket pair. The child sees those files as descriptors 3, 4, 5, ... in
// ExtraFiles order. Relying on that order alone is brittle: adding a listener,
// or leaving one out because a protocol is disabled, silently shifts every
// later descriptor, and a worker would serve HTTP on the RTMP socket without
// any error. So, as cloudflare/tableflip does, the master also sets one
// environment variable, [EnvFDs], that names each descriptor
// ("ipc=3,rtmp=4,http=5"), built by [FormatFDs]. The worker asks for
// "rtmp" by name through [InheritedFiles] and gets a plain error when it is
// missing, or when the binary was run by hand and there is no master at all.
//
// InheritedFiles marks the descriptors close-on-exec at once: the worker
// never starts programs of its own on purpose, but if anything it runs ever
// does, the public sockets and the IPC channel must not leak into it — a
// leaked IPC descriptor would keep the master from seeing EOF when the worker
// dies.
//
// # One framed, capped, strict codec
//
// Every message is one frame: a 4-byte big-endian length, one kind byte, and
// a JSON body (see [Marshal]). JSON because the traffic is tiny (a load
// report per worker per second, a few registry calls per publish), both ends
// are the same binary, and a frame is readable in strace or a hex dump when a
// worker misbehaves at 3 a.m.
//
// The length is capped at [MaxFrame], and [ReadFrame] refuses a larger length
// before it allocates anything. The master reads from N workers; one worker
// with a bug, a corrupted stream or a stray write from a library must not be
// able to make the master allocate 4 GiB from four bytes and take the whole
// host down with it. A framing error cannot be recovered from (the reader no
// longer knows where the next frame starts), so a [Conn] that sees one is
// done; a frame that is well delimited but does not decode leaves the stream
// in step.
//
// Decoding is strict: unknown kinds, unknown JSON fields and trailing bytes
// are errors. Master and worker are always the same build, so any mismatch is
// a bug, and a loud error beats a field silently dropped on the floor.
//
// # A sealed set of messages
//
// [Message] has an unexported method, so only the types in this package are
// messages. A receiver can switch over them knowing the list is complete, and
// nothing from media or configs can be put on the wire by accident.
// Messages are pointers: Send(&Hello{...}), and [Unmarshal] and
// [Conn.Receive] return *Hello, *Load, and so on.
//
// # The connection is the liveness signal
//
// [Socketpair] makes the master's end as a [Conn] and the worker's end as an
// *os.File for ExtraFiles. The master must close its copy of the worker end
// once the child has started: only then does the master's [Conn.Receive]
// return [io.EOF] when the worker dies, and the worker's return io.EOF when
// the master dies (a worker that reads EOF drains and exits, so none
// outlives its master).
package ipc
