package hosts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"streamedge/supervisor/hosts/redistest"
)

// redisCPU is the server's user+system CPU seconds so far (INFO cpu).
func redisCPU(b *testing.B, c redis.UniversalClient) float64 {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return total
}

// BenchmarkHeartbeat is one host's heartbeat (its record, its streams'
// claims, the read of every record) against a real redis-server, in a
// cluster of the given size. redis-cpu-us/beat is what one Redis spends on
// it: 1e6 over it is the heartbeats per second one Redis core sustains,
// which is the number of hosts at a 1 s heartbeat.
func BenchmarkHeartbeat(b *testing.B) {
	r := redistest.Start(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := Dial(r.URL, log)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, size := range []struct{ hosts, streams int }{{10, 10}, {100, 10}, {100, 1000}, {500, 100}} {
		b.Run(fmt.Sprintf("hosts=%d/streams=%d", size.hosts, size.streams), func(b *testing.B) {
			ctx := context.Background()
			c.FlushAll(ctx)
			rec := Record{Advertise: Advertise{RTMP: "198.18.0.2:1935", HTTP: "198.18.0.2:8080"}, Resolve: true,
				Load: Load{CPUPercent: 42, Connections: 5000, Players: 4990, BytesOutPerSec: 1.25e9, Capacity: 10000}}
			// The other hosts' records, as their own heartbeats leave them.
			for i := 1; i < size.hosts; i++ {
				other := New(Options{Client: c, HostID: fmt.Sprintf("edge-%03d", i), Heartbeat: time.Second, TTL: time.Hour,
					Local: func(context.Context) (Record, []string, error) { return rec, nil, nil }, Log: log})
				if err := other.beat(ctx); err != nil {
					b.Fatal(err)
				}
			}
			streams := make([]string, size.streams)
			for i := range streams {
				streams[i] = fmt.Sprintf("__defaultVhost__/live/stream-%05d", i)
			}
			s := New(Options{Client: c, HostID: "edge-000", Heartbeat: time.Second, TTL: time.Hour,
				Local: func(context.Context) (Record, []string, error) { return rec, streams, nil }, Log: log})
			if err := s.beat(ctx); err != nil {
				b.Fatal(err)
			}
			cpu0 := redisCPU(b, c)
			b.ResetTimer()
			for range b.N {
				if err := s.beat(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric((redisCPU(b, c)-cpu0)*1e6/float64(b.N), "redis-cpu-us/beat")
			if n := len(s.View().Hosts); n != size.hosts {
				b.Fatalf("view has %d hosts, want %d", n, size.hosts)
			}
		})
	}
}

func BenchmarkNewRing(b *testing.B) {
	for _, n := range []int{10, 100, 500} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("edge-%03d", i)
		}
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			for range b.N {
				NewRing(ids)
			}
		})
	}
}
