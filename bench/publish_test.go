package bench

import (
	"context"
	"math"
	"testing"
	"time"

	"streamedge/media/mediatest"
)

// TestPublishFileLoops publishes a 2 s FLV file for longer than it lasts:
// players must see one continuous stream at the file's bitrate, with no
// stall where it loops.
func TestPublishFileLoops(t *testing.T) {
	file := mediatest.FLVFile(t, mediatest.Media{Duration: 2 * time.Second, GOP: 500 * time.Millisecond})
	ff, err := loadFLV(file)
	if err != nil {
		t.Fatal(err)
	}
	srv := startTestServer(t, 1, false)
	ctx, cancel := context.WithCancel(context.Background())
	pubDone := make(chan *PublishResult, 1)
	go func() {
		res, err := Publish(ctx, PublishConfig{URL: "rtmp://" + srv.RTMP + "/live/f{i}", Publishers: 2, File: file})
		if err != nil {
			t.Error(err)
		}
		pubDone <- res
	}()
	url := srv.url(ProtoRTMP, "f1")
	if err := awaitPlayable(ctx, ProtoRTMP, url); err != nil {
		t.Fatal(err)
	}
	res, err := Play(ctx, PlayConfig{URL: url, Clients: 3, Duration: 5 * time.Second, Timeout: 2 * time.Second, MaxFail: 0})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	pub := <-pubDone

	s := res.Summary
	if !s.Pass || s.Stalls != 0 || s.MaxGapMS > 500 {
		t.Errorf("pass %v, %d stalls, longest gap %.0f ms; want a smooth stream across the loops (%s)", s.Pass, s.Stalls, s.MaxGapMS, s.FailedReason)
	}
	if math.Abs(s.SpeedP50-1) > 0.05 {
		t.Errorf("played at %.2fx real time, want 1x", s.SpeedP50)
	}
	if want := ff.bitrate(); math.Abs(s.BitrateP50-want)/want > 0.1 {
		t.Errorf("players received %.0f bit/s, the file has %.0f", s.BitrateP50, want)
	}
	if pub == nil || len(pub.Publishers) != 2 || pub.Publishers[1].URL != "rtmp://"+srv.RTMP+"/live/f1" {
		t.Fatalf("publish result %+v, want two publishers f0 and f1", pub)
	}
	for _, p := range pub.Publishers {
		if p.Sessions != 1 || p.ErrorCount != 0 || p.Bytes == 0 {
			t.Errorf("publisher %d: %d sessions, %d errors %v, %d bytes", p.Index, p.Sessions, p.ErrorCount, p.Errors, p.Bytes)
		}
	}
}
