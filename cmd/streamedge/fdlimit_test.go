package main

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"streamedge/media/mediatest"
)

// TestFewFileDescriptors (issue 16 test 7): the server runs with 256
// descriptors and 400 clients connect. Those past the limit wait in the
// kernel's queue or are refused; the server stays responsive (the API
// answers, a running player keeps receiving, a new player plays once the
// crowd leaves), and the log says so in a few lines, not one per accept.
func TestFewFileDescriptors(t *testing.T) {
	t.Parallel()
	mediatest.RequireFFmpeg(t)
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	// No connection cap: the descriptors, not the balancer, run out.
	s := startServerWith(t, serverOptions{wrapper: []string{prlimit, "--nofile=256:256", "--"}}, "workers: 1\nbalance:\n  max_connections: 0\n")
	s.logs.wait(t, "open file limit", func(l map[string]any) bool { return fmt.Sprint(l["limit"]) == "256" }, 10*time.Second)
	publishFFmpeg(t, s, "fd")
	player := waitPlayable(t, playFLV, s.flvURL("fd"))
	defer player.close()

	var crowd []net.Conn
	defer func() {
		for _, c := range crowd {
			c.Close()
		}
	}()
	for i := range 400 {
		addr := s.http
		if i%2 == 1 {
			addr = s.rtmp
		}
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			continue // refused: fine, that is a clean answer
		}
		crowd = append(crowd, c)
	}
	t.Logf("%d of 400 connections opened (the rest refused)", len(crowd))

	// Responsive: the API answers and the running player keeps receiving.
	for range 3 {
		resp, err := http.Get("http://" + s.api + "/api/v1/summaries")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("the API did not answer with the descriptors used up: %v %v", err, resp)
		}
		resp.Body.Close()
		if _, err := player.next(); err != nil {
			t.Fatalf("the running player stopped: %v", err)
		}
		time.Sleep(500 * time.Millisecond) // let accept retries pile up, if they were to
	}
	for _, c := range crowd {
		c.Close()
	}
	crowd = nil
	src := waitPlayable(t, playRTMP, s.rtmpURL("fd"))
	src.close()

	n := 0
	s.logs.mu.Lock()
	for _, l := range s.logs.lines {
		lvl, msg := fmt.Sprint(l["level"]), fmt.Sprint(l["msg"], " ", l["err"])
		if (lvl == "WARN" || lvl == "ERROR") && (strings.Contains(msg, "accept") || strings.Contains(msg, "too many open files")) {
			n++
		}
	}
	s.logs.mu.Unlock()
	if n > 12 {
		t.Fatalf("%d warning lines about accepting with the descriptors used up, want a few", n)
	}
	t.Logf("%d warning lines about it", n)
}
