package main

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"streamedge/media/mediatest"
)

// rawHead sends one HEAD on a fresh connection and returns the status and
// the worker that answered (from its log line for the connection).
func rawHead(t *testing.T, s *server, path string) (code, worker int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.http, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodHead, "http://"+s.http+path, nil)
	req.Close = true
	if err := req.Write(c); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	local := c.LocalAddr().String()
	line := s.logs.wait(t, "flv head", func(l map[string]any) bool { return l["client"] == local }, 10*time.Second)
	w, _ := line["worker"].(float64)
	return resp.StatusCode, int(w)
}

// TestHeadStartsNoRelay (issue 10): with -w 2 and a stream published on
// one worker, a HEAD answers 200 on both workers, the other one from what
// the master knows, and 404 for a stream nobody publishes; no HEAD starts
// a relay: the workers' reports after them list no relay of the stream
// (a relay lingers 5 s, and they report every second).
func TestHeadStartsNoRelay(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	s := startServer(t, "", "-w", "2")
	s.waitWorkers(t, 2, nil)
	_, pubWorker := publishFFmpegFile(t, s, "h", mediatest.FLVFile(t, mediatest.Media{}))
	answered := map[int]bool{}
	for try := 0; len(answered) < 2; try++ {
		if try == 100 {
			t.Fatalf("100 HEADs and all answered by workers %v", answered)
		}
		code, w := rawHead(t, s, "/live/h.flv")
		if code != http.StatusOK {
			t.Fatalf("HEAD on worker %d (the publisher's: %d): %d, want 200", w, pubWorker, code)
		}
		answered[w] = true
	}
	if code, w := rawHead(t, s, "/live/none.flv"); code != http.StatusNotFound {
		t.Fatalf("HEAD of an unpublished stream on worker %d: %d, want 404", w, code)
	}
	after := time.Now().Add(1500 * time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for {
		fresh := 0
		for _, w := range s.workers(t) {
			if w.Load != nil && w.Load.At.After(after) {
				fresh++
			}
		}
		if fresh == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no fresh load report from both workers")
		}
		time.Sleep(100 * time.Millisecond) // polling the reports, with the deadline above
	}
	if st := s.streamRTC(t, "__defaultVhost__/live/h"); st == nil || len(st.RelayedBy) != 0 {
		t.Fatalf("after the HEADs the stream is %+v, want no relays", st)
	}
	if n := s.logs.count("relay start"); n != 0 {
		t.Fatalf("the HEADs started %d relays", n)
	}
}
