package main

import (
	"bytes"
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
