package bench

import (
	"context"
	"log/slog"
	"testing"
	"time"
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
