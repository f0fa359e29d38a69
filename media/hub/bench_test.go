package hub

import (
	"fmt"
	"net"
	"testing"

	"streamedge/media/flv"
)

// discardWriter frames like a real player (header, body, trailer slices into
// reused net.Buffers) and drops the bytes.
type discardWriter struct {
	vecs [][]byte
	n    int
}

func (w *discardWriter) WriteBatch(msgs []*Msg) error {
	vecs := w.vecs[:0]
	for _, m := range msgs {
		vecs = append(vecs, m.FLVHeader(), m.Payload, m.FLVTrailer())
	}
	w.vecs = vecs
	out := net.Buffers(vecs)
	for _, b := range out {
		w.n += len(b)
	}
	return nil
}

// BenchmarkFanOut measures the hub's cost per delivered message per player:
// one push, then every player fetches and frames it. ns/op and allocs/op are
// per message per player.
func BenchmarkFanOut(b *testing.B) {
	for _, players := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("players=%d", players), func(b *testing.B) {
			h := newTestHub(DefaultOptions())
			key := Key{DefaultVhost, "live", "s"}
			p, _ := h.Publish(key)
			subs := make([]*Subscriber, players)
			writers := make([]*discardWriter, players)
			batches := make([][]*Msg, players)
			for i := range subs {
				subs[i], _ = h.Subscribe(key, true)
				writers[i] = &discardWriter{vecs: make([][]byte, 0, 3*(maxBatch+3))}
				batches[i] = make([]*Msg, 0, maxBatch+3)
			}
			payload := make([]byte, 8000) // a 2 Mbit/s frame at 30 fps
			payload[0] = 0x27
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			msgs := b.N/players + 1
			for i := range msgs {
				p.Write(flv.TagVideo, uint32(i*33), payload)
				for j, sub := range subs {
					batch, _, _ := sub.Fetch(batches[j][:0])
					writers[j].WriteBatch(batch)
					batches[j] = batch
				}
			}
		})
	}
}
