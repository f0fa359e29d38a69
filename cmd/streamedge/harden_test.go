package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp/handshake"

	"streamedge/media/rtmp"
	"streamedge/media/rtmp/amf"
	"streamedge/media/rtmp/chunk"
)

// rawRTMP dials addr and completes the handshake: what follows is up to the test.
func rawRTMP(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := handshake.HandshakeWithServer(nc, nc, &handshake.Config{}); err != nil {
		t.Fatal(err)
	}
	return nc
}

// rssBytes is a process's resident set, from /proc.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS for %d", pid)
	return 0
}

// bombConnect is the 16 MB connect of issue 11: a strict array of 16 M
// nulls, one byte each on the wire and 16 in a decoder without a budget.
func bombConnect() []byte {
	const n = 16<<20 - 64
	p := amf.Append(nil, "connect", 1)
	p = append(p, 0x0A, byte(n>>24), byte(n>>16&0xff), byte(n>>8&0xff), byte(n&0xff))
	return append(p, bytes.Repeat([]byte{0x05}, n)...)
}

func TestConnectMemoryBombIsRefusedAndCostsNothing(t *testing.T) {
	s := startServer(t, "workers: 1\n")
	w := s.waitWorkers(t, 1, nil)[0]
	before := rssBytes(t, w.PID)
	bomb := chunk.AppendMessage(nil, chunk.CSIDCommand, chunk.TypeCommandAMF0, 0, 0, bombConnect(), 128)
	var wg sync.WaitGroup
	for range 8 {
		nc := rawRTMP(t, s.rtmp)
		wg.Go(func() {
			nc.Write(bomb) // the server hangs up long before the end
			io.Copy(io.Discard, nc)
		})
	}
	wg.Wait()
	s.logs.waitCount(t, "rtmp connection closed", 8, 10*time.Second)
	// A connect small on the wire that decodes big is refused by the
	// decoder's budget; a tcUrl longer than any URL by the string limit.
	small := amf.Append(nil, "connect", 1)
	small = append(small, 0x0A, 0, 0, 0xf0, 0)
	small = append(small, bytes.Repeat([]byte{0x05}, 0xf000)...)
	longURL := amf.Append(nil, "connect", 1, []amf.Property{{Key: "app", Value: "live"},
		{Key: "tcUrl", Value: "rtmp://h/live?" + strings.Repeat("x", 8000)}})
	for _, p := range [][]byte{small, longURL} {
		nc := rawRTMP(t, s.rtmp)
		nc.Write(chunk.AppendMessage(nil, chunk.CSIDCommand, chunk.TypeCommandAMF0, 0, 0, p, 128))
		if _, err := io.ReadAll(nc); err != nil {
			t.Fatalf("refused connect: connection not closed: %v", err)
		}
	}
	for _, want := range []string{"larger than the limit", "over the budget", "string longer than the limit"} {
		s.logs.wait(t, "rtmp connection closed", func(l map[string]any) bool {
			return strings.Contains(fmt.Sprint(l["reason"]), want)
		}, 10*time.Second)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rss := rssBytes(t, w.PID)
		if rss < 64<<20 {
			t.Logf("worker RSS %.1f MB before, %.1f MB after 8 bombs", float64(before)/1e6, float64(rss)/1e6)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker RSS %.1f MB 10 s after 8 connect bombs (%.1f MB before), want under 64 MB", float64(rss)/1e6, float64(before)/1e6)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestJunkConnectionsAreSummarised: a flood of connections that never shake
// hands, shake hands badly or idle is counted and logged as summaries, not
// a line each; a huge stream name is clipped in the reply and the log.
func TestJunkConnectionsAreSummarised(t *testing.T) {
	s := startServer(t, "workers: 1\nrtmp:\n  handshake_timeout: 1s\n")
	s.waitWorkers(t, 1, nil)
	const n = 100
	var conns []net.Conn
	dial := func(addr string) net.Conn {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		conns = append(conns, nc)
		return nc
	}
	for range n {
		dial(s.rtmp)                                         // silent
		dial(s.rtmp).Write([]byte("GET / HTTP/1.1\r\n\r\n")) // not RTMP
		dial(s.http)                                         // no request
		conns = append(conns, rawRTMP(t, s.rtmp))            // shakes hands, then nothing
	}
	for _, nc := range conns {
		nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadAll(nc); err != nil {
			t.Fatalf("junk connection not closed by the server: %v", err)
		}
	}
	name := strings.Repeat("n", 4000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var st *rtmp.StatusError
	if _, err := playRTMP(ctx, s.rtmpURL(name)); !errors.As(err, &st) || len(st.Description) > 512 {
		t.Fatalf("a 4000-byte stream name: %v, want a refusal with a clipped description", err)
	}
	want := map[string]float64{"rtmp/no_handshake": n, "rtmp/bad_handshake": n, "rtmp/idle_timeout": n, "http/no_handshake": n}
	deadline := time.Now().Add(15 * time.Second)
	for key, count := range want {
		proto, reason, _ := strings.Cut(key, "/")
		for {
			got := s.metric(t, "streamedge_worker_junk_connections_total", map[string]string{"protocol": proto, "reason": reason})
			if got == count {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v junk connections in /metrics, want %v", key, got, count)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	summed := map[string]float64{}
	deadline = time.Now().Add(15 * time.Second)
	for summed["rtmp"] < 3*n || summed["http"] < n {
		if time.Now().After(deadline) {
			t.Fatalf("summaries counted %v, want rtmp %d and http %d", summed, 3*n, n)
		}
		s.logs.wait(t, "", func(l map[string]any) bool { return strings.Contains(fmt.Sprint(l["msg"]), "closed before a") }, 15*time.Second)
		summed = map[string]float64{}
		lines := 0
		s.logs.mu.Lock()
		for _, l := range s.logs.lines {
			msg := fmt.Sprint(l["msg"])
			if proto, _, ok := strings.Cut(msg, " connections closed before a"); ok {
				lines++
				total, _ := l["total"].(float64)
				summed[proto] += total
			}
		}
		s.logs.mu.Unlock()
		if lines > 8 {
			t.Fatalf("%d summary lines for %d junk connections", lines, 4*n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	for _, l := range s.logs.lines {
		if l["msg"] == "rtmp connection closed" && !strings.Contains(fmt.Sprint(l["reason"]), "bad stream name") {
			t.Fatalf("a junk connection was logged on its own: %v", l)
		}
	}
	for _, line := range strings.Split(s.logs.raw.String(), "\n") {
		if len(line) > 2048 {
			t.Fatalf("a log line of %d bytes: %.200s...", len(line), line)
		}
	}
}
