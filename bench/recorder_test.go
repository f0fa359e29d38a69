package bench

import (
	"math"
	"testing"
	"time"

	"streamedge/media/flv"
)

// feed plays the synthetic stream's first seconds of media into r, each
// tag arriving at the time arrive gives for its timestamp.
func feed(r *recorder, bitrate float64, seconds float64, arrive func(ts uint32) time.Time) time.Time {
	src := newSynthetic(bitrate)
	var last time.Time
	for {
		tag := src.next()
		if float64(tag.Timestamp) >= seconds*1000 {
			return last
		}
		last = arrive(tag.Timestamp)
		r.frame(last, tag.Type, tag.Timestamp, tag.Data)
	}
}

func TestRecorder(t *testing.T) {
	const rate = 2e6
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	tests := []struct {
		name       string
		seconds    float64
		arrive     func(ts uint32) time.Time
		end        time.Duration // after t0
		wantRate   float64       // as a share of rate
		wantSpeed  float64
		wantStalls int
		minGapMS   float64
	}{
		{
			name: "real time", seconds: 20,
			arrive:   func(ts uint32) time.Time { return at(float64(ts)) },
			end:      20 * time.Second,
			wantRate: 1, wantSpeed: 1,
		},
		{
			// A GOP cache hands a new player 2 s of media at once; the
			// warm-up keeps that burst out of its bitrate.
			name: "gop burst then real time", seconds: 20,
			arrive: func(ts uint32) time.Time {
				return at(max(0, float64(ts)-2000))
			},
			end:      18 * time.Second,
			wantRate: 1, wantSpeed: 1,
		},
		{
			name: "half speed", seconds: 10,
			arrive:   func(ts uint32) time.Time { return at(2 * float64(ts)) },
			end:      20 * time.Second,
			wantRate: 0.5, wantSpeed: 0.5,
		},
		{
			name: "three second stall", seconds: 20,
			arrive: func(ts uint32) time.Time {
				if ts >= 10000 {
					return at(float64(ts) + 3000)
				}
				return at(float64(ts))
			},
			// The window runs from the keyframe at 2 s to the one at 18 s
			// (whole GOPs): 16 s of media in 19 s.
			end:      23 * time.Second,
			wantRate: 16.0 / 19, wantSpeed: 16.0 / 19, wantStalls: 1, minGapMS: 3000,
		},
		{
			// Half a second of media, a stall, then the next 7.5 s of media in
			// one burst, all keyframes in it within microseconds: no window
			// of milliseconds may come out of that.
			name: "burst after a stall", seconds: 8,
			arrive: func(ts uint32) time.Time {
				if ts < 500 {
					return at(float64(ts))
				}
				return at(8000 + float64(ts)/1000)
			},
			end:      8200 * time.Millisecond,
			wantRate: 8.0 / 8.2, wantStalls: 1, minGapMS: 7400,
		},
		{
			// Media stopped at 5 s but the client was still connected at
			// 15 s: it starved at the end, and that must show.
			name: "silent tail", seconds: 5,
			arrive: func(ts uint32) time.Time { return at(float64(ts)) },
			end:    15 * time.Second,
			// From the keyframe at 2 s to the end: 3 s of media in 13 s.
			wantRate: 3.0 / 13, wantStalls: 1, minGapMS: 9000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res ClientResult
			r := newRecorder(&res, &live{})
			r.attempt(t0)
			r.accepted(t0, "127.0.0.1:1")
			feed(r, rate, tt.seconds, tt.arrive)
			r.finish(t0.Add(tt.end))
			if got := res.BitrateBPS / rate; math.Abs(got-tt.wantRate) > 0.05*tt.wantRate {
				t.Errorf("bitrate = %.0f (%.3f of the source), want %.3f", res.BitrateBPS, got, tt.wantRate)
			}
			if tt.wantSpeed > 0 && math.Abs(res.Speed-tt.wantSpeed) > 0.03*tt.wantSpeed {
				t.Errorf("speed = %.3f, want %.3f", res.Speed, tt.wantSpeed)
			}
			if res.Stalls != tt.wantStalls {
				t.Errorf("stalls = %d, want %d", res.Stalls, tt.wantStalls)
			}
			if res.MaxGapMS < tt.minGapMS {
				t.Errorf("longest gap = %.0f ms, want at least %.0f", res.MaxGapMS, tt.minGapMS)
			}
			if res.FirstKeyMS == nil || res.FirstMediaMS == nil || res.Keyframes == 0 {
				t.Errorf("no first media or keyframe recorded: %+v", res)
			}
		})
	}
}

func TestRecorderStartup(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var res ClientResult
	r := newRecorder(&res, &live{})
	r.attempt(t0)
	r.accepted(t0.Add(30*time.Millisecond), "127.0.0.1:1")
	// Audio first, then an inter frame (a player joined without a GOP
	// cache), then the keyframe it can start on.
	r.frame(t0.Add(50*time.Millisecond), flv.TagAudio, 0, []byte{0xaf, 1, 1})
	r.frame(t0.Add(60*time.Millisecond), flv.TagVideo, 0, []byte{0x27, 1, 0, 0, 0})
	r.frame(t0.Add(400*time.Millisecond), flv.TagVideo, 40, []byte{0x17, 1, 0, 0, 0})
	r.finish(t0.Add(time.Second))
	if *res.ConnectMS != 30 || *res.FirstMediaMS != 50 || *res.FirstKeyMS != 400 {
		t.Errorf("connect %v, first media %v, first key %v; want 30, 50, 400", *res.ConnectMS, *res.FirstMediaMS, *res.FirstKeyMS)
	}
	if got, ok := res.Startup(); !ok || got != 400 {
		t.Errorf("Startup() = %v, %v; want the first keyframe, 400", got, ok)
	}
}

func TestRecorderReconnect(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var res ClientResult
	lv := &live{}
	r := newRecorder(&res, lv)
	r.attempt(t0)
	r.accepted(t0, "127.0.0.1:1")
	r.frame(t0.Add(10*time.Millisecond), flv.TagVideo, 0, []byte{0x17, 1, 0, 0, 0})
	r.attempt(t0.Add(time.Second))
	if lv.state.Load() != stateConnecting {
		t.Errorf("state after a new attempt = %d, want connecting", lv.state.Load())
	}
	r.accepted(t0.Add(2*time.Second), "127.0.0.1:2")
	r.frame(t0.Add(2500*time.Millisecond), flv.TagVideo, 40, []byte{0x17, 1, 0, 0, 0})
	if res.Sessions != 2 || res.Reconnects != 1 || lv.reconnects.Load() != 1 || res.LocalAddr != "127.0.0.1:2" {
		t.Errorf("sessions %d reconnects %d (live %d) addr %s; want 2, 1, 1, the second address",
			res.Sessions, res.Reconnects, lv.reconnects.Load(), res.LocalAddr)
	}
	if res.Stalls != 1 || res.MaxGapMS != 2490 {
		t.Errorf("stalls %d, longest gap %v; the reconnect's 2.49 s gap is a stall", res.Stalls, res.MaxGapMS)
	}
}
