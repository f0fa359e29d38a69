package mediatest

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp/handshake"

	"streamedge/media/rtmp/amf"
	"streamedge/media/rtmp/chunk"
)

// RTMPStatusServer accepts RTMP clients and answers their play with answer
// (an onStatus info object, such as a StreamNotFound or a 302 redirect),
// after a normal connect and createStream. The channel gets the clients'
// connect command objects (the first 16).
func RTMPStatusServer(t testing.TB, answer []amf.Property) (string, <-chan amf.Object) {
	t.Helper()
	return fakeRTMP(t, nil, answer)
}

// RTMPConnectServer accepts an RTMP connect when accept says so of its
// command object and rejects it (_error NetConnection.Connect.Rejected)
// otherwise: an origin that checks tokens. Plays get StreamNotFound.
func RTMPConnectServer(t testing.TB, accept func(amf.Object) bool) (string, <-chan amf.Object) {
	t.Helper()
	return fakeRTMP(t, accept, []amf.Property{{Key: "level", Value: "error"},
		{Key: "code", Value: "NetStream.Play.StreamNotFound"}, {Key: "description", Value: "no such stream"}})
}

func fakeRTMP(t testing.TB, accept func(amf.Object) bool, answer []amf.Property) (string, <-chan amf.Object) {
	connects := make(chan amf.Object, 16)
	addr := serveLoopback(t, func(nc net.Conn) {
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(nc)
		if handshake.HandshakeWithClient(br, nc, &handshake.Config{SkipHandshakeVerification: true}) != nil {
			return
		}
		cr := chunk.NewReader(br, 1<<20)
		send := func(streamID uint32, vals ...any) {
			nc.Write(chunk.AppendMessage(nil, chunk.CSIDCommand, chunk.TypeCommandAMF0, 0, streamID, amf.Append(nil, vals...), 128))
		}
		for {
			msg, err := cr.ReadMessage()
			if err != nil {
				return
			}
			if msg.TypeID == chunk.TypeSetChunkSize && len(msg.Payload) >= 4 {
				cr.SetChunkSize(binary.BigEndian.Uint32(msg.Payload))
			}
			if msg.TypeID != chunk.TypeCommandAMF0 {
				continue
			}
			vals, err := amf.Decode(msg.Payload, amf.CommandLimits)
			if err != nil || len(vals) < 2 {
				return
			}
			switch vals[0] {
			case "connect":
				obj, _ := vals[2%len(vals)].(amf.Object)
				select {
				case connects <- obj:
				default:
				}
				if accept != nil && !accept(obj) {
					send(0, "_error", vals[1], nil, []amf.Property{{Key: "level", Value: "error"},
						{Key: "code", Value: "NetConnection.Connect.Rejected"}, {Key: "description", Value: "bad token"}})
					return
				}
				send(0, "_result", vals[1], nil, []amf.Property{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"}})
			case "createStream":
				send(0, "_result", vals[1], nil, 1.0)
			case "play":
				send(1, "onStatus", 0.0, nil, answer)
			}
		}
	})
	return addr, connects
}

// serveLoopback accepts on a loopback port until test cleanup and runs
// handle on each connection, closing it after; cleanup waits for them.
func serveLoopback(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer nc.Close()
				handle(nc)
			})
		}
	})
	return ln.Addr().String()
}

// GarbageServer answers whatever a client sends first with bytes that are
// no protocol.
func GarbageServer(t testing.TB) string {
	t.Helper()
	return serveLoopback(t, func(nc net.Conn) {
		junk := make([]byte, 4096)
		for i := range junk {
			junk[i] = byte(i*7 + 3)
		}
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Read(make([]byte, 1)); err != nil {
			return
		}
		nc.Write(junk)
		io.Copy(io.Discard, nc)
	})
}
