package bench

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"streamedge/media/rtmp/amf"
)

// TestPlayMatchesServer plays the synthetic stream with 50 clients over each
// protocol and checks the bench's books against the server's: each player's
// media bytes against the bytes_sent of the server's own play end line for
// the same connection, the players the API counts, the timeline's bytes
// against the players', and the bitrates against the publisher's.
func TestPlayMatchesServer(t *testing.T) {
	const clients, rate = 50, 2e6
	for _, proto := range []string{ProtoRTMP, ProtoFLV} {
		t.Run(proto, func(t *testing.T) {
			srv := startTestServer(t, 1, true)
			srv.publish(t, "s", rate)
			url := srv.url(proto, "s")
			ctx := context.Background()
			if err := awaitPlayable(ctx, proto, url); err != nil {
				t.Fatal(err)
			}
			apiPlayers := make(chan int, 1)
			// The clock below is one more player.
			go func() { apiPlayers <- pollAPIPlayers(srv.API, "__defaultVhost__/live/s", clients+1, 5*time.Second) }()

			clock := watchClock(t, proto, url)
			res, err := Play(ctx, PlayConfig{URL: url, Clients: clients, Ramp: 200, Duration: 5 * time.Second,
				Timeout: 5 * time.Second, MaxFail: 1})
			if err != nil {
				t.Fatal(err)
			}
			src := clock.stop()
			s := res.Summary
			if s.Requested != clients || s.Connected != clients || s.GotMedia != clients || s.Failed != 0 || s.Startup.N != clients {
				t.Errorf("requested %d connected %d got media %d failed %d startup measured for %d; want all %d\n%+v",
					s.Requested, s.Connected, s.GotMedia, s.Failed, s.Startup.N, clients, s.Failures)
			}
			if got := <-apiPlayers; got != clients+1 {
				t.Errorf("the API counted %d players at most, want %d and the clock", got, clients)
			}
			if last := res.Timeline[len(res.Timeline)-1]; last.Bytes != s.Bytes {
				t.Errorf("the timeline ends at %d bytes, the clients received %d", last.Bytes, s.Bytes)
			}
			checkMediaRate(t, res.Clients, rate, 0.02)
			compareWithServerLogs(t, srv, proto, res.Clients, rate, src.Late)

			// The players' rates are held to the source's as the bench saw it
			// (p1 is the slowest client of 50 that share two cores with the
			// server and other test binaries: a wider margin), the source to
			// the nominal rate, each margin widened by what the stream's
			// lateness can do to a rate over a 2 s GOP.
			t.Logf("the stream came at most %v behind its clock (%d frames)", src.Late, src.Frames)
			slack := src.rateSlack(2 * time.Second)
			if math.Abs(s.SourceBPS-rate)/rate > 0.10+slack {
				t.Errorf("source bitrate = %.0f, want %.0f within %.0f%%", s.SourceBPS, rate, 100*(0.10+slack))
			}
			for _, c := range []struct {
				name      string
				v, margin float64
			}{{"p50", s.BitrateP50, 0.03 + 2*slack}, {"p1", s.BitrateP1, 0.08 + 2*slack}} {
				if math.Abs(c.v-s.SourceBPS)/s.SourceBPS > c.margin {
					t.Errorf("bitrate %s = %.0f, want the source's %.0f within %.0f%%", c.name, c.v, s.SourceBPS, 100*c.margin)
				}
			}
			// A fan-out of the publisher's rate to every player, over the part
			// of the run they played, a second at a time.
			want, late := rate*clients/1e6, src.rateSlack(time.Second)
			if s.PeakMbps < (0.7-late)*want || s.PeakMbps > (1.6+late)*want {
				t.Errorf("peak %.1f Mbit/s, want about %.0f", s.PeakMbps, want)
			}

			// Yes or no, only when the stream kept real time.
			if !src.realTime(StallGap / 2) {
				t.Logf("not checking for stalls: the stream itself fell %v behind", src.Late)
			} else if s.Stalls != 0 {
				t.Errorf("%d stalls, longest gap %.0f ms; the stream came at most %v late", s.Stalls, s.MaxGapMS, src.Late)
			}
			if !src.realTime(realTimeSlack) {
				t.Logf("not checking for starving players: the stream fell %v behind, more than %v", src.Late, realTimeSlack)
			} else if s.Starving != 0 || !s.Pass {
				t.Errorf("starving %d pass %v (%s); want none starving", s.Starving, s.Pass, s.FailedReason)
			}
		})
	}
}

// checkMediaRate holds the clients' rates over media time (the bitrate over
// the speed: bytes per second of media in the same window) to the source's
// rate. Unlike the rate over wall time it does not depend on whether the
// stream came in real time, so it holds under any load, and it still catches
// a window that counts the wrong bytes or the wrong timestamps. A steady
// client measured whole GOPs and must be within margin; the others' windows
// end inside a GOP, whose keyframe weighs eight frames, so only their
// median is held, within 20%.
func checkMediaRate(t *testing.T, clients []ClientResult, rate, margin float64) {
	t.Helper()
	var all []float64
	steady := 0
	for _, c := range clients {
		if c.Speed <= 0 {
			t.Errorf("client %d: speed %.3f at %.0f bit/s, want a measured window", c.Index, c.Speed, c.BitrateBPS)
			continue
		}
		got := c.BitrateBPS / c.Speed
		all = append(all, got)
		if c.Steady {
			steady++
			if math.Abs(got-rate)/rate > margin {
				t.Errorf("client %d: %.0f bit/s per second of media over whole GOPs, the source has %.0f", c.Index, got, rate)
			}
		}
	}
	if m := median(all); math.Abs(m-rate)/rate > 0.2 {
		t.Errorf("the clients' median is %.0f bit/s per second of media, the source has %.0f", m, rate)
	}
	t.Logf("%d of %d clients measured whole GOPs in real time", steady, len(clients))
}

// compareWithServerLogs holds each client's media bytes to what the server
// logged it sent. With merged writes off, each write is one message, so a
// client never has more than the server sent (bar the |RtmpSampleAccess
// message an RTMP play starts with, which the server writes itself and does
// not count). It may have less by what was still in flight when it closed:
// the last moments of media, more of them the further behind it ran. A
// client in a process starved of CPU can run further behind than the stream
// ever came late to the clock, so each is allowed the media of that
// lateness and half a second more; their median, which a systematic
// miscount moves, only the lateness and 1%.
func compareWithServerLogs(t *testing.T, srv *testServer, proto string, clients []ClientResult, rate float64, late time.Duration) {
	t.Helper()
	msg, own := "rtmp play end", float64(len(amf.Append(nil, "|RtmpSampleAccess", true, true)))
	if proto == ProtoFLV {
		msg, own = "flv play end", 0
	}
	// One more: awaitPlayable's probe played too, and so did the clock.
	lines := srv.logs.waitCount(t, msg, len(clients)+2, 10*time.Second)
	sent := map[string]float64{}
	for _, l := range lines {
		addr, _ := l["client"].(string)
		sent[addr], _ = l["bytes_sent"].(float64)
	}
	lateBytes := rate / 8 * late.Seconds()
	each := lateBytes + rate/8*(StallGap/2).Seconds()
	var short, beyond []float64 // of what was sent: missing, and missing beyond the lateness
	for _, c := range clients {
		want, ok := sent[c.LocalAddr]
		if !ok {
			t.Errorf("client %d (%s): the server logged no play for it", c.Index, c.LocalAddr)
			continue
		}
		want += own
		got := float64(c.Bytes)
		short = append(short, (want-got)/want)
		beyond = append(beyond, (want-got-lateBytes)/want)
		if got > want || want-got > max(0.02*want, each) {
			t.Errorf("client %d (%s): received %.0f media bytes, the server sent %.0f (%.0f may have been in flight)",
				c.Index, c.LocalAddr, got, want, each)
		}
	}
	if len(short) == 0 {
		return
	}
	if m := median(beyond); m > 0.01 {
		t.Errorf("the median client received %.2f%% less than the server sent, beyond the stream's lateness of %v", 100*m, late)
	}
	t.Logf("the median client received %.3f%% less than the server sent, the most %.3f%%; the stream came at most %v late",
		100*median(short), 100*slices.Max(short), late)
}

// pollAPIPlayers watches /api/v1/streams and returns the most players it
// saw on stream, as soon as that reaches want or d has passed.
func pollAPIPlayers(api, stream string, want int, d time.Duration) int {
	most := 0
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	// The API's numbers come from load reports once a second: poll it.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var body struct {
			Streams []struct {
				Stream  string `json:"stream"`
				Players int    `json:"players"`
			} `json:"streams"`
		}
		if resp, err := http.Get("http://" + api + "/api/v1/streams"); err == nil {
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
		}
		for _, s := range body.Streams {
			if s.Stream == stream {
				most = max(most, s.Players)
			}
		}
		if most >= want {
			return most
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return most
		}
	}
}
