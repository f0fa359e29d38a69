package rtmp_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp/handshake"

	"streamedge/media/hub"
	"streamedge/media/rtmp"
	"streamedge/media/rtmp/amf"
	"streamedge/media/rtmp/chunk"
)

var (
	fuzzOnce sync.Once
	fuzzAddr string
)

// fuzzServer is one server for every input of the fuzz target; a panic in
// any session takes the test binary down, which is what the target looks for.
func fuzzServer(t testing.TB) string {
	fuzzOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		h := hub.New(hub.DefaultOptions(), log)
		srv := rtmp.NewServer(h, rtmp.Config{ChunkSize: 4096, HandshakeTimeout: time.Second, MaxMessageSize: 1 << 16}, log)
		go srv.Serve(context.Background(), ln)
		fuzzAddr = ln.Addr().String()
	})
	return fuzzAddr
}

func command(csid uint32, streamID uint32, vals ...any) []byte {
	return chunk.AppendMessage(nil, csid, chunk.TypeCommandAMF0, 0, streamID, amf.Append(nil, vals...), 128)
}

// FuzzSession sends arbitrary bytes after a good handshake: the server may
// refuse or close, never crash or hang.
func FuzzSession(f *testing.F) {
	connect := command(3, 0, "connect", 1, []amf.Property{{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://h/live"}})
	publish := append(append(append([]byte{}, connect...), command(3, 0, "createStream", 2, nil)...),
		command(3, 1, "publish", 0, nil, "s", "live")...)
	f.Add(connect)
	f.Add(publish)
	f.Add(append(append([]byte{}, publish...), chunk.AppendMessage(nil, 6, chunk.TypeVideo, 0, 1, []byte{0x17, 0, 0, 0, 0, 1, 2}, 128)...))
	f.Add(append(append([]byte{}, connect...), command(3, 1, "play", 0, nil, "s")...))
	f.Add(chunk.AppendMessage(nil, 2, chunk.TypeSetChunkSize, 0, 0, []byte{0x7f, 0xff, 0xff, 0xff}, 128))
	f.Add([]byte{0xC6, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		nc, err := net.Dial("tcp", fuzzServer(t))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := handshake.HandshakeWithServer(nc, nc, &handshake.Config{SkipHandshakeVerification: true}); err != nil {
			t.Fatal(err)
		}
		nc.Write(b)
		nc.(*net.TCPConn).CloseWrite()
		// The server answers or closes; either way it lets go of us.
		if _, err := io.Copy(io.Discard, nc); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server neither answered nor closed within 5 s")
			}
		}
	})
}
