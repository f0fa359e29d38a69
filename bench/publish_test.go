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
// stall where it loops: seamless timestamps and the file's rate per second
// of media always, and no stall in wall time when the stream kept real time.
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
	clock := watchClock(t, ProtoRTMP, url)
	res, err := Play(ctx, PlayConfig{URL: url, Clients: 3, Duration: 5 * time.Second, Timeout: 2 * time.Second, MaxFail: 0})
	if err != nil {
		t.Fatal(err)
	}
	// The loop must be seamless in media time, whatever the load: the
	// clock must have seen the stream pass a loop (two, normally), with
	// timestamps that step a frame at a time and never back.
	clock.waitSpan(int64(ff.span)+100, 20*time.Second)
	src := clock.stop()
	cancel()
	pub := <-pubDone

	s := res.Summary
	if s.Failed != 0 {
		t.Errorf("%d clients failed: %+v", s.Failed, s.Failures)
	}
	if src.SpanMS <= int64(ff.span) || src.Backwards != 0 || src.MaxStepMS > 100 {
		t.Errorf("the stream's timestamps: %d ms seen of a %d ms file, %d steps back, the longest step %d ms; want a seamless loop",
			src.SpanMS, ff.span, src.Backwards, src.MaxStepMS)
	}
	checkMediaRate(t, res.Clients, ff.bitrate(), 0.1)

	t.Logf("the stream came at most %v behind its clock (%d frames)", src.Late, src.Frames)
	// In wall time: the speed and the rate with margins widened by what the
	// stream's lateness can do over a second (the shortest window the bench
	// calls steady), and no stall only when it kept real time.
	slack := src.rateSlack(time.Second)
	if math.Abs(s.SpeedP50-1) > 0.05+slack {
		t.Errorf("played at %.2fx real time, want 1x within %.0f%%", s.SpeedP50, 100*(0.05+slack))
	}
	if want := ff.bitrate(); math.Abs(s.BitrateP50-want)/want > 0.1+slack {
		t.Errorf("players received %.0f bit/s, the file has %.0f", s.BitrateP50, want)
	}
	if !src.realTime(StallGap / 2) {
		t.Logf("not checking for stalls: the stream itself fell %v behind", src.Late)
	} else if s.Stalls != 0 || s.MaxGapMS > 500 {
		t.Errorf("%d stalls, longest gap %.0f ms; want a smooth stream across the loops (the stream came at most %v late)",
			s.Stalls, s.MaxGapMS, src.Late)
	}
	if !src.realTime(realTimeSlack) {
		t.Logf("not checking for starving players: the stream fell %v behind, more than %v", src.Late, realTimeSlack)
	} else if !s.Pass {
		t.Errorf("the run failed: %s", s.FailedReason)
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
