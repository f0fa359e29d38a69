package main

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"streamedge/media/mediatest"
)

// TestBrowserWHIPToHTTPFLV (issue 15 test 3): headless Chromium publishes
// its fake camera and microphone through /players/ over WHIP; ffprobe over
// HTTP-FLV and RTMP sees h264 and aac (the Opus transcoded); four probes,
// each on whichever worker the kernel hands it.
func TestBrowserWHIPToHTTPFLV(t *testing.T) {
	heavy(t)
	mediatest.RequireFFmpeg(t)
	s, _ := startRTC(t, 2)
	rep, collector := newReports(t)
	q := url.Values{"app": {"live"}, "stream": {"chrome"}, "auto": {"whip"}, "report": {collector.URL + "/pub"}}
	openPage(t, fmt.Sprintf("http://%s/players/?%s", s.http, q.Encode()))
	rep.await(t, "/pub", 60*time.Second, func(l []pageStats) bool { return len(l) > 0 && l[len(l)-1].FramesSent > 0 })
	for _, u := range []string{s.flvURL("chrome"), s.rtmpURL("chrome"), s.flvURL("chrome"), s.rtmpURL("chrome")} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res := mediatest.FFprobe(t, ctx, u)
		cancel()
		if res.Err != nil {
			t.Fatalf("ffprobe %s: %v\n%s", u, res.Err, res.Output)
		}
		v, okV := res.Stream("video")
		a, okA := res.Stream("audio")
		if !okV || !okA || v.CodecName != "h264" || a.CodecName != "aac" || v.Width == 0 {
			t.Fatalf("ffprobe %s: %+v, want h264 with a size and aac", u, res.Streams)
		}
	}
}
