package worker

import (
	"os"
	"strconv"
	"strings"
)

// faultEnv injects load for tests of load-aware decisions: a list of
// slot:percent pairs ("0:95") whose percent is added to that slot's
// reported CPU, so a test can mark a worker hot without burning a core on
// a shared machine. Unset in production.
const faultEnv = "STREAMEDGE_FAULT_CPU"

// faultCPU is the CPU percent faultEnv adds to slot's load reports.
func faultCPU(slot int) float64 {
	for pair := range strings.SplitSeq(os.Getenv(faultEnv), ",") {
		s, p, ok := strings.Cut(pair, ":")
		if n, err := strconv.Atoi(s); ok && err == nil && n == slot {
			if v, err := strconv.ParseFloat(p, 64); err == nil {
				return v
			}
		}
	}
	return 0
}
