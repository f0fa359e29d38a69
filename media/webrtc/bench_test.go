package webrtc

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"streamedge/media/flv"
	"streamedge/media/hub"
)

// discardWriter stands in for a player's SRTP stream: it marshals each
// packet's header into one buffer, as the real stream must before it
// encrypts, and counts what it was given.
type discardWriter struct {
	buf     [1500]byte
	packets int
}

func (w *discardWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(w.buf[:])
	w.packets++
	return n + len(payload), err
}

func (w *discardWriter) Write(b []byte) (int, error) { w.packets++; return len(b), nil }

// bindContext binds a local track as a PeerConnection would.
type bindContext struct{ w *discardWriter }

func (c bindContext) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: h264Capability, PayloadType: ptH264}}
}
func (c bindContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (c bindContext) SSRC() webrtc.SSRC                                      { return 1234 }
func (c bindContext) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (c bindContext) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (c bindContext) WriteStream() webrtc.TrackLocalWriter                   { return c.w }
func (c bindContext) ID() string                                             { return "bench" }
func (c bindContext) RTCPReader() interceptor.RTCPReader                     { return nil }

// BenchmarkPlayerFanout is the WHEP fan-out path: one H.264 stream of
// 6 kB pictures (6 RTP packets each) to N players, each fetching from the
// hub, taking the shared packets from the stream's cache and sending them
// with its own header. ns/pkt and allocs/pkt are per delivered RTP packet
// per player; the per-stream work (the hub message, packetizing it once) is
// spread over the players, so allocs/pkt falls towards zero as N grows.
func BenchmarkPlayerFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("players=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, n int) {
	opts := hub.DefaultOptions()
	opts.MergedWrite = 0
	h := hub.New(opts, testLog())
	defer h.Close()
	pub, err := h.Publish(testKey)
	if err != nil {
		b.Fatal(err)
	}
	pub.Write(flv.TagVideo, 0, avcSequenceHeader(testSPS, testPPS))
	cache := newPacketCache(hub.Key{}, nil)
	players := make([]*player, n)
	writers := make([]*discardWriter, n)
	for i := range players {
		sub, err := h.Subscribe(testKey, false)
		if err != nil {
			b.Fatal(err)
		}
		t, err := newTrack(h264Capability, "video")
		if err != nil {
			b.Fatal(err)
		}
		writers[i] = &discardWriter{}
		if _, err := t.local.Bind(bindContext{writers[i]}); err != nil {
			b.Fatal(err)
		}
		players[i] = &player{ses: &session{srv: &Server{}}, sub: sub, cache: cache, video: t}
	}
	key := avcFrameTag(avcc(append([]byte{0x65}, bytes.Repeat([]byte{0x11}, 6000)...)), true)
	inter := avcFrameTag(avcc(append([]byte{0x41}, bytes.Repeat([]byte{0x22}, 6000)...)), false)
	deliver := func() {
		for _, p := range players {
			batch, _, err := p.sub.Fetch(p.batch[:0])
			if err != nil {
				b.Fatal(err)
			}
			if err := p.write(batch); err != nil {
				b.Fatal(err)
			}
			clear(batch)
			p.batch = batch
		}
	}
	ts := uint32(0)
	frame := func(i int) []byte {
		ts += 40
		if i%50 == 0 {
			return key
		}
		return inter
	}
	// Warm up: every player has had its keyframe and its buffers have grown.
	for i := range 60 {
		pub.Write(flv.TagVideo, ts, frame(i))
		deliver()
	}
	before := 0
	for _, w := range writers {
		before += w.packets
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		// A fresh message each time, as the hub keeps the payload.
		pub.Write(flv.TagVideo, ts, bytes.Clone(frame(i+1)))
		deliver()
	}
	b.StopTimer()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	packets := -before
	for _, w := range writers {
		packets += w.packets
	}
	if packets == 0 {
		b.Fatal("no packets delivered")
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(packets), "ns/pkt")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(packets), "allocs/pkt")
	b.ReportMetric(float64(packets)/float64(b.N*n), "pkts/frame")
}

// BenchmarkSocketWrites is the last step of the fan-out: 1200-byte
// datagrams from 100 goroutines (one per player) to one receiver on
// loopback, through Go's write lock of the socket ("go", what the ICE mux
// wrote with before) and through filterConn's sendto ("sendto"). ns/op is
// per datagram.
func BenchmarkSocketWrites(b *testing.B) {
	for _, via := range []string{"go", "sendto"} {
		b.Run(via, func(b *testing.B) {
			sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			var garbage atomic.Uint64
			fc, err := newFilterConn(u, &garbage)
			if err != nil {
				b.Fatal(err)
			}
			defer fc.Close()
			to := sink.LocalAddr().(*net.UDPAddr).AddrPort()
			write := fc.WriteToAddrPort
			if via == "go" {
				write = u.WriteToUDPAddrPort
			}
			pkt := make([]byte, 1200)
			pkt[0] = 0x80 // RTP
			b.SetParallelism(100 / max(1, runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := write(pkt, to); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
