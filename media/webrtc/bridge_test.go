package webrtc

import (
	"encoding/binary"
	"math"
	"os"
	"testing"
	"time"

	"streamedge/media/flv"
	"streamedge/media/hub"
	"streamedge/media/mediatest"
	"streamedge/media/transcode"
	"streamedge/media/webrtc/rtctest"
)

// publishFLV publishes the ffmpeg-made test file (H.264 and AAC) into the
// hub at twice real time, until the test ends.
func publishFLV(t *testing.T, h *hub.Hub, key hub.Key) {
	t.Helper()
	f, err := os.Open(mediatest.FLVFile(t, mediatest.Media{Duration: 4 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tags, err := flv.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := h.Publish(key)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done; pub.Close() })
	go func() {
		defer close(done)
		start, offset := time.Now(), uint32(0)
		for {
			for _, tag := range tags {
				ts := tag.Timestamp + offset
				select {
				case <-stop:
					return
				case <-time.After(time.Until(start.Add(time.Duration(ts) * time.Millisecond / 2))):
				}
				if flv.IsVideoSequenceHeader(tag.Data) || flv.IsAudioSequenceHeader(tag.Data) {
					if offset > 0 {
						continue
					}
				}
				if pub.Write(tag.Type, ts, tag.Data) != nil {
					return
				}
			}
			offset += 4000
		}
	}()
}

// TestBridgeAACToOpus: WHEP players of an H.264 + AAC stream get the
// stream's pictures and Opus that decodes to the tone, through one bridge
// for all of them, which ends when they have gone.
func TestBridgeAACToOpus(t *testing.T) {
	if !transcode.Built() {
		t.Skip("audio transcoding is not built")
	}
	mediatest.RequireFFmpeg(t)
	ts := startServer(t, Config{})
	publishFLV(t, ts.hub, testKey)
	var players []*rtctest.Player
	for range 3 {
		players = append(players, rtctest.NewPlayer(t).Play(t, ts.url+"/live/s/whep"))
	}
	for i, p := range players {
		frames, opus := p.AwaitFrames(t, 50)
		if !rtctest.HasIDR(rtctest.SplitAnnexB(frames[0])) {
			t.Fatalf("player %d: first picture is no keyframe", i)
		}
		dec, err := transcode.New(transcode.Params{From: transcode.Opus, InRate: 48000, InChannels: 2, To: transcode.PCM, OutRate: 48000, OutChannels: 1})
		if err != nil {
			t.Fatal(err)
		}
		var pcm []byte
		for _, o := range opus {
			out, err := dec.Transcode(o, 0, nil)
			if err != nil {
				t.Fatalf("player %d: opus does not decode: %v", i, err)
			}
			for _, b := range out {
				pcm = append(pcm, b.Data...)
			}
		}
		dec.Close()
		if e := rms(pcm); e < 0.04 {
			t.Fatalf("player %d: Opus decodes to RMS %.4f, not the tone", i, e)
		}
	}
	if n := ts.srv.Stats.Bridges.Load(); n != 1 {
		t.Fatalf("%d bridges for 3 players of one stream", n)
	}
	notes := ts.srv.Notes()
	if notes[testKey].Audio != AudioTranscoded {
		t.Fatalf("notes: %+v", notes)
	}
	// A WHIP publish needs no bridge: its rendition is its own.
	if err := ts.srv.StartBridge(hub.Key{Vhost: testKey.Vhost, App: "live", Name: "x" + RTCSuffix}); err != ErrNoTranscode {
		t.Fatalf("bridge of a rendition: %v", err)
	}
	for _, p := range players {
		if code := rtctest.Do(t, "DELETE", ts.url+p.Location, "", ""); code != 200 {
			t.Fatalf("DELETE: %d", code)
		}
	}
	deadline := time.Now().Add(3 * bridgeLinger)
	for ts.srv.Stats.Bridges.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the bridge outlived its players by 3 lingers")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rms is the energy of interleaved little-endian float32 samples.
func rms(pcm []byte) float64 {
	var sum float64
	n := len(pcm) / 4
	for i := range n {
		v := float64(math.Float32frombits(binary.LittleEndian.Uint32(pcm[i*4:])))
		sum += v * v
	}
	if n == 0 {
		return 0
	}
	return math.Sqrt(sum / float64(n))
}
