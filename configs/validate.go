package configs

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// problem is a rule violation tied to the key path it is about, so Parse
// can point at the line that set it.
type problem struct {
	path, msg string
	missing   bool // about a key the file lacks: point at its section
}

// Validate checks c against the rules documented in default.yaml and
// returns every violation, joined, one per line.
func (c *Config) Validate() error {
	var errs []error
	for _, p := range c.problems() {
		errs = append(errs, &Error{Msg: p.msg})
	}
	return join(errs)
}

func (c *Config) problems() []problem {
	var v validator
	v.atLeast("workers", c.Workers, 0)
	v.atMost("workers", c.Workers, 1024)

	v.addr("listen.rtmp", c.Listen.RTMP, false)
	v.addr("listen.http", c.Listen.HTTP, false)
	v.addr("listen.api", c.Listen.API, true)
	v.distinctListens([2]string{"listen.rtmp", c.Listen.RTMP}, [2]string{"listen.http", c.Listen.HTTP}, [2]string{"listen.api", c.Listen.API})

	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")

	// The protocol allows up to 2^31-1, but these are the bounds SRS
	// enforces, and bigger chunks buy nothing once a frame fits in one.
	v.between("rtmp.chunk_size", c.RTMP.ChunkSize, 128, 65536)
	v.positive("rtmp.handshake_timeout", c.RTMP.HandshakeTimeout)
	// 16777215 is the largest length the 3-byte message header can carry.
	v.between("rtmp.max_message_size", c.RTMP.MaxMessageSize, 1024, 16777215)

	v.maxDuration("play.mw_latency", c.Play.MWLatency, 2*time.Second)
	v.maxDuration("grace_start_wait", c.GraceStartWait, 10*time.Minute)
	v.maxDuration("grace_final_wait", c.GraceFinalWait, time.Hour)

	v.atLeast("play.gop_cache_max_frames", c.Play.GOPCacheMaxFrames, 1)
	// Sub-second limits would skip or drop players over ordinary network
	// jitter.
	v.minDuration("play.queue_length", c.Play.QueueLength, time.Second)
	v.minDuration("play.send_timeout", c.Play.SendTimeout, time.Second)
	v.atLeast("play.max_skips", c.Play.MaxSkips, 1)
	c.API.problems(&v)
	// The last slot's port must exist too; with workers 0 (one per CPU) the
	// count is known only at start, so the check assumes the 1024 maximum
	// is not near.
	v.between("rtc.udp_port_base", c.RTC.UDPPortBase, 0, 65535-max(c.Workers, 1)+1)
	if d := c.RTC.KeyframeInterval.Std(); d != 0 && d < 500*time.Millisecond {
		v.fail("rtc.keyframe_interval", "must be 0 (never) or >= 500ms, got %s", c.RTC.KeyframeInterval)
	}
	for i, ip := range c.RTC.Candidates {
		if net.ParseIP(ip) == nil {
			v.problems = append(v.problems, problem{path: "rtc.candidates", msg: fmt.Sprintf("rtc.candidates[%d] must be an IP address, got %q", i, ip)})
		}
	}
	c.Balance.problems(&v)
	c.Hosts.problems(&v)
	c.clusterOrigins(&v)
	v.vhosts(c.Vhosts)
	return v.problems
}

type validator struct {
	problems []problem
}

func (v *validator) fail(path, format string, args ...any) {
	v.problems = append(v.problems, problem{path: path, msg: path + " " + fmt.Sprintf(format, args...)})
}

func (v *validator) failMissing(path, format string, args ...any) {
	v.fail(path, format, args...)
	v.problems[len(v.problems)-1].missing = true
}

func (v *validator) atLeast(path string, n, lo int) {
	if n < lo {
		v.fail(path, "must be >= %d, got %d", lo, n)
	}
}

func (v *validator) atMost(path string, n, hi int) {
	if n > hi {
		v.fail(path, "must be <= %d, got %d", hi, n)
	}
}

func (v *validator) between(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.fail(path, "must be between %d and %d, got %d", lo, hi, n)
	}
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.fail(path, "must be > 0, got %s", d)
	}
}

func (v *validator) minDuration(path string, d Duration, lo time.Duration) {
	if d.Std() < lo {
		v.fail(path, "must be >= %s, got %s", lo, d)
	}
}

func (v *validator) maxDuration(path string, d Duration, hi time.Duration) {
	if d.Std() > hi {
		v.fail(path, "must be <= %s, got %s", hi, d)
	}
}

func (v *validator) oneOf(path, s string, allowed ...string) {
	if !slices.Contains(allowed, s) {
		v.fail(path, "must be one of %s, got %q", strings.Join(allowed, " | "), s)
	}
}

// addr requires host:port with a numeric port, the form net.Listen takes;
// an empty host binds every interface.
func (v *validator) addr(path, s string, optional bool) {
	if s == "" {
		if !optional {
			v.fail(path, "must not be empty")
		}
		return
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		if _, numErr := strconv.ParseUint(s, 10, 16); numErr == nil {
			v.fail(path, "must be host:port, got %q (did you mean \":%s\"?)", s, s)
			return
		}
		v.fail(path, "must be host:port, got %q", s)
		return
	}
	// Port 0 asks the kernel for a free port (tests; the started log line says which).
	if p, err := strconv.ParseUint(port, 10, 32); err != nil || p > 65535 {
		v.fail(path, "port must be between 0 and 65535, got %q", port)
	}
}
