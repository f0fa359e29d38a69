package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A short comparison with both servers: every player of every cell gets
// media and is measured, the ratios are there, and nothing of the servers
// is left when Compare returns: no process, no temporary file.
func TestCompareSmoke(t *testing.T) {
	requireNginx(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the servers' configs and nginx's prefix
	var out bytes.Buffer
	res, err := Compare(context.Background(), CompareConfig{Server: serverBinary, Nginx: "nginx", NginxModule: NginxRTMPModule,
		Players: []int{20}, Protocols: []string{ProtoRTMP, ProtoFLV}, Duration: 2 * time.Second, Ramp: 500, Bitrate: 2e6, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(res.Cells) != 3 || len(res.VsNginx) != 2 || len(res.W2) != 0 || len(res.Starve) != 0 {
		t.Fatalf("cells %d, ratios %d and %d, ramps %d; want 3, 2, 0, 0:\n%s", len(res.Cells), len(res.VsNginx), len(res.W2), len(res.Starve), out.String())
	}
	for _, c := range res.Cells {
		s := c.Summary
		if s == nil || s.GotMedia != 20 || s.Startup.N != 20 || c.DeliveredGbps <= 0 || c.RSSBaseBytes == 0 || c.RSSPeakBytes == 0 {
			t.Errorf("%s %s: not every player measured: %+v\n%s", c.Label(), c.Protocol, c, out.String())
		}
		if err := syscall.Kill(c.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still runs after Compare returned (%v)", c.Label(), c.Pid, err)
		}
	}
	for _, want := range []string{"nginx-rtmp        RTMP", "streamedge -w 1   HTTP-FLV", "its RTMP row is the reference for both"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the tables lack %q:\n%s", want, out.String())
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in the temporary directory: %v", left)
	}
}

// Interrupted in its first cell (nginx-rtmp's) or in the ramp, Compare
// stops the server and removes what it wrote, and says it was interrupted.
func TestCompareInterrupted(t *testing.T) {
	requireNginx(t)
	for _, tt := range []struct {
		name    string
		players []int // none: straight to the ramp
	}{{"first cell", []int{20}}, {"ramp", nil}} {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out bytes.Buffer
			// The first progress line comes once the players run.
			progress := writerFunc(func(p []byte) (int, error) { cancel(); return len(p), nil })
			res, err := Compare(ctx, CompareConfig{Server: serverBinary, Nginx: "nginx", NginxModule: NginxRTMPModule,
				Players: tt.players, Protocols: []string{ProtoRTMP}, Duration: time.Minute, Ramp: 500, Bitrate: 2e6,
				StarveProtocols: []string{ProtoFLV}, StarveSteps: []int{20}, StarveDuration: time.Minute, Out: &out, Progress: progress})
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if res.Stopped != "interrupted" || len(res.Cells) != 0 || len(res.Starve) > 1 {
				t.Errorf("stopped %q with %d cells and %d ramps; want interrupted, none:\n%s", res.Stopped, len(res.Cells), len(res.Starve), out.String())
			}
			if kids, err := childPids(os.Getpid()); err != nil || len(kids) > 0 {
				t.Errorf("processes left running: %v (%v)", kids, err)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left in the temporary directory: %v", left)
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
