package bench

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"streamedge/media/flv"
)

// TestPlayWHEP: the bench's WHEP players play a real server's stream,
// published over RTMP (video only reaches WebRTC: AAC is not transcoded),
// and count keyframes, frames and bitrate like the other protocols.
func TestPlayWHEP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := StartServer(ctx, ServerOptions{Path: serverBinary, Workers: 1, ExtraYAML: "rtc:\n  enabled: true\n  udp_port_base: 0\n"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	pubCtx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() {
		_, err := Publish(pubCtx, PublishConfig{URL: "rtmp://" + srv.RTMP + "/live/s", Publishers: 1, Synthetic: 1e6, Log: slog.New(slog.DiscardHandler)})
		pubDone <- err
	}()
	defer func() { stopPub(); <-pubDone }()
	url := "http://" + srv.HTTP + "/live/s/whep"
	if err := awaitPlayable(ctx, ProtoWHEP, url); err != nil {
		t.Fatalf("never playable: %v\n%s", err, srv.Log())
	}
	clock := watchClock(t, ProtoRTMP, "rtmp://"+srv.RTMP+"/live/s")
	res, err := Play(ctx, PlayConfig{URL: url, Clients: 3, Ramp: 100, Duration: 5 * time.Second, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	src := clock.stop()
	// Per second of media the rate holds under any load; the frames in 5 s
	// and the rate per second of wall time only while the stream kept real
	// time (the RTMP clock is a player of the same stream).
	realTime := src.realTime(realTimeSlack)
	t.Logf("the stream came at most %v behind its clock (%d frames)", src.Late, src.Frames)
	for _, c := range res.Clients {
		if c.Failed || c.Keyframes < 1 || c.Speed <= 0 || c.BitrateBPS/c.Speed < 0.5e6 || realTime && (c.Video < 50 || c.BitrateBPS < 0.5e6) {
			t.Errorf("client %d: failed %v (%s), %d keyframes, %d frames, %.0f bit/s at %.2fx real time",
				c.Index, c.Failed, c.FailReason, c.Keyframes, c.Video, c.BitrateBPS, c.Speed)
		}
	}
}

// TestHasIDR: the RTP payloads of H.264 that start a keyframe, and some
// that do not or are cut short.
func TestHasIDR(t *testing.T) {
	for _, c := range []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"single IDR", []byte{0x65, 0x88}, true},
		{"single inter slice", []byte{0x41, 0x9a}, false},
		{"STAP-A of SPS, PPS, IDR", []byte{0x78, 0, 2, 0x67, 0x42, 0, 1, 0x68, 0, 2, 0x65, 0x88}, true},
		{"STAP-A of SPS and PPS", []byte{0x78, 0, 2, 0x67, 0x42, 0, 1, 0x68}, false},
		{"STAP-A with a size past its end", []byte{0x78, 0, 9, 0x65}, false},
		{"FU-A start of an IDR", []byte{0x7c, 0x85, 0xaa}, true},
		{"FU-A middle of an IDR", []byte{0x7c, 0x05, 0xaa}, false},
		{"FU-A start of an inter slice", []byte{0x5c, 0x81, 0xaa}, false},
		{"one byte", []byte{0x65}, false},
		{"empty", nil, false},
	} {
		if got := hasIDR(c.payload); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPictureFrames: a picture's frame carries its payload bytes, its
// keyframe flag and its time, and earlier frames keep theirs when later,
// longer ones are made.
func TestPictureFrames(t *testing.T) {
	var b frameBodies
	var p picture
	p.add(90*40, []byte{0x7c, 0x85, 1, 2})
	p.add(90*40, []byte{0x7c, 0x45, 3})
	key := p.frame(&b)
	p.add(90*80, make([]byte, 3000))
	inter := p.frame(&b)
	if key.typ != flv.TagVideo || key.ts != 40 || len(key.body) != 5+7 || !flv.IsVideoKeyPicture(key.body) {
		t.Fatalf("keyframe: type %d, ts %d, %d bytes, key %v", key.typ, key.ts, len(key.body), flv.IsVideoKeyPicture(key.body))
	}
	if inter.ts != 80 || len(inter.body) != 5+3000 || flv.IsVideoKeyPicture(inter.body) {
		t.Fatalf("inter frame: ts %d, %d bytes, key %v", inter.ts, len(inter.body), flv.IsVideoKeyPicture(inter.body))
	}
	if a := b.audio(60); len(a) != 65 || string(a[1:5]) != "Opus" {
		t.Fatalf("audio body %x...", a[:5])
	}
}
