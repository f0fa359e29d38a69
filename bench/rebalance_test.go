package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRebalanceUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-protocol", "whep"}, "WebRTC players do not move"},
		{[]string{"-players", "1"}, "-players must be between 2"},
		{[]string{"-even", "0.9"}, "-even must be over 1"},
		{[]string{"-shed-rate", "0"}, "-shed-rate must be 0.01..100"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Main(append([]string{"scenario", "rebalance"}, tt.args...), &stdout, &stderr); code != ExitUsage || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit code %d, stderr does not say %q:\n%s", tt.args, code, tt.want, stderr.String())
		}
	}
}

// The scenario through the real command, small: players piled on worker
// 0 are evened out by moves, and none reconnects.
func TestRebalanceCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rebalance.json")
	// 40 players at 20 % a second: 8 moves a second, 20 to move.
	stdout, code := runBenchCommand(t, "scenario", "rebalance", "-server", serverBinary, "-players", "40", "-ramp", "40/s",
		"-bitrate", "500k", "-shed-rate", "20", "-timeout", "30s", "-json", out, "-q")
	if code != ExitPass {
		t.Fatalf("exit code %d\n%s", code, stdout)
	}
	var res RebalanceResult
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", stdout)
	if res.TimeToEvenS < 0 || res.Moved == 0 || len(res.ByWorker) != 2 || res.ByWorker[1] == 0 {
		t.Errorf("not evened out by moves: %+v", res)
	}
	if res.Reconnects != 0 || res.Refused != 0 || res.Failed != 0 {
		t.Errorf("%d reconnects, %d refused, %d failed, want none", res.Reconnects, res.Refused, res.Failed)
	}
}
