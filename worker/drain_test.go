package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"streamedge/configs"
	"streamedge/ipc"
	"streamedge/media/hub"
)

func TestAwaitDrained(t *testing.T) {
	tests := []struct {
		name     string
		sessions int64
		want     error
	}{
		{"no sessions left: done at once", 0, errDrained},
		{"sessions outlive the grace: closed", 2, errGraceOver},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New(configs.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)))
			w.servers[0].(*rtmpServer).srv.Stats.Conns.Add(tt.sessions)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			start := time.Now()
			go awaitDrained(ctx, w, 300*time.Millisecond, cancel)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("awaitDrained never stopped the worker")
			}
			if got := context.Cause(ctx); !errors.Is(got, tt.want) {
				t.Fatalf("stopped with %v, want %v", got, tt.want)
			}
			if tt.want == errGraceOver && time.Since(start) < 300*time.Millisecond {
				t.Fatalf("closed the sessions before the grace was over")
			}
		})
	}
}

func TestLoadReportKeepsTheBusiestStreams(t *testing.T) {
	w := New(configs.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	s, err := newLoadSampler(w)
	if err != nil {
		t.Fatal(err)
	}
	watched := map[string]bool{}
	for i := range maxStreamsReported + 10 {
		key := hub.Key{Vhost: hub.DefaultVhost, App: "live", Name: fmt.Sprint("s", i)}
		if _, err := w.hub.Publish(key); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			if _, err := w.hub.Subscribe(key, true); err != nil {
				t.Fatal(err)
			}
			watched[key.String()] = true
		}
	}
	l := s.sample(time.Now().Add(time.Second))
	if l.CPUPercent < 0 || l.RSSBytes == 0 {
		t.Fatalf("load report: CPU %v, RSS %d", l.CPUPercent, l.RSSBytes)
	}
	if len(l.Streams) != maxStreamsReported {
		t.Fatalf("%d streams reported, want the cap %d", len(l.Streams), maxStreamsReported)
	}
	for _, st := range l.Streams[:len(watched)] {
		if !watched[st.Stream] || st.Players != 1 {
			t.Fatalf("the report leads with %+v, want the watched streams first", st)
		}
	}
	if _, err := ipc.Marshal(l); err != nil {
		t.Fatalf("a capped report does not fit a frame: %v", err)
	}
}
