package configs

import (
	"fmt"
	"math"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML either as a Go duration
// string ("10s", "2300ms") or, as SRS configs habitually do, a bare integer
// number of seconds. Negative durations are rejected.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d the way time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes the string form so a dumped config reads like the
// default file instead of raw nanoseconds.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reports problems as *yaml.TypeError: yaml.v3 then keeps
// decoding and collects them with its own, instead of aborting on the first.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return durationError(n, "invalid duration, got %s", describeNode(n))
	}
	var v time.Duration
	if n.ShortTag() == "!!int" {
		var secs int64
		if err := n.Decode(&secs); err != nil || secs > math.MaxInt64/int64(time.Second) {
			return durationError(n, "invalid duration %q", n.Value)
		}
		// Clamp so that the multiplication cannot overflow; the sign is
		// all that matters for a negative count.
		v = time.Duration(max(secs, -1)) * time.Second
	} else {
		var err error
		if v, err = time.ParseDuration(n.Value); err != nil {
			return durationError(n, "invalid duration %q", n.Value)
		}
	}
	if v < 0 {
		return durationError(n, "invalid duration %q: must not be negative", n.Value)
	}
	*d = Duration(v)
	return nil
}

// durationError uses yaml.v3's "line N: msg" shape so Parse can locate it
// like any other decode error.
func durationError(n *yaml.Node, format string, args ...any) error {
	msg := fmt.Sprintf("line %d: ", n.Line) + fmt.Sprintf(format, args...)
	return &yaml.TypeError{Errors: []string{msg}}
}
