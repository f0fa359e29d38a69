// Package configs is the typed configuration of the streamedge server.
//
// The documented defaults live in default.yaml, embedded in the binary, so
// the file users copy and the values the server falls back to cannot drift
// apart. A user's file is decoded on top of those defaults, strictly (unknown
// keys are errors, since a misspelt key silently keeping its default is the
// worst kind of config bug), and every error names the file and line.
package configs

import (
	"bytes"
	_ "embed"
	"log/slog"
	"sync"

	"gopkg.in/yaml.v3"
)

// Config is the whole server configuration.
type Config struct {
	Workers int    `yaml:"workers"`
	Listen  Listen `yaml:"listen"`
	Log     Log    `yaml:"log"`
	RTMP    RTMP   `yaml:"rtmp"`
	Play    Play   `yaml:"play"`
	RTC     RTC    `yaml:"rtc"`

	// Graceful quit, with SRS's names and defaults.
	GraceStartWait Duration `yaml:"grace_start_wait"`
	GraceFinalWait Duration `yaml:"grace_final_wait"`
	ForceGraceQuit bool     `yaml:"force_grace_quit"`

	API     API     `yaml:"api"`
	Balance Balance `yaml:"balance"`
	Hosts   Hosts   `yaml:"hosts"`
	Debug   Debug   `yaml:"debug"`

	// Vhosts by name; a vhost not listed takes __defaultVhost__'s entry.
	// The embedded default sets none: decoding a file into a map the
	// defaults already hold would write into the defaults themselves.
	Vhosts map[string]Vhost `yaml:"vhosts,omitempty"`
}

// Listen holds the host:port addresses the server binds.
type Listen struct {
	RTMP string `yaml:"rtmp"`
	HTTP string `yaml:"http"`
	API  string `yaml:"api"` // empty disables the API
}

// Log configures the process logger.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
	File   string `yaml:"file"` // empty means stderr
}

// RTMP tunes the RTMP protocol layer.
type RTMP struct {
	ChunkSize        int      `yaml:"chunk_size"`
	HandshakeTimeout Duration `yaml:"handshake_timeout"`
	MaxMessageSize   int      `yaml:"max_message_size"`
}

// Play tunes delivery to players.
type Play struct {
	GOPCache          bool     `yaml:"gop_cache"`
	GOPCacheMaxFrames int      `yaml:"gop_cache_max_frames"`
	QueueLength       Duration `yaml:"queue_length"`
	SendTimeout       Duration `yaml:"send_timeout"`
	MaxSkips          int      `yaml:"max_skips"`
	MWLatency         Duration `yaml:"mw_latency"`
}

// RTC configures WebRTC (WHIP/WHEP, SRS's rtc_server). Each worker slot
// has a UDP port of its own, udp_port_base + slot, on the host of
// listen.http; 0 lets the kernel pick each slot's port.
type RTC struct {
	Enabled     bool     `yaml:"enabled"`
	UDPPortBase int      `yaml:"udp_port_base"`
	Candidates  []string `yaml:"candidates"` // IPs announced to peers; empty: the socket's own
	// KeyframeInterval asks WHIP publishers for a keyframe this often
	// (SRS's pli_for_rtmp); 0 never.
	KeyframeInterval Duration `yaml:"keyframe_interval"`
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the documented default config file. The slice is a
// copy, so callers may keep or modify it.
func DefaultYAML() []byte {
	return bytes.Clone(defaultYAML)
}

// defaults is parsed once. The references Config holds (Vhosts,
// Balance.Redirect, RTC.Candidates) are nil or empty in the default, and
// decoding a file makes new ones, so handing out copies of the value is
// enough to keep callers from sharing state.
var defaults = sync.OnceValues(func() (Config, error) {
	var c Config
	if _, err := decode(&c, "default.yaml", defaultYAML); err != nil {
		return c, err
	}
	return c, c.Validate()
})

// Default returns the configuration described by DefaultYAML. It panics if
// the embedded file is broken, which only a bad build can cause.
func Default() *Config {
	c, err := defaults()
	if err != nil {
		panic("configs: embedded default.yaml is invalid: " + err.Error())
	}
	return &c
}

// SlogLevel maps the configured level onto slog. Unknown names, which
// Validate rejects anyway, fall back to info rather than failing.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Dump renders c as YAML that Parse accepts, e.g. to show the effective
// configuration.
func (c *Config) Dump() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2) // match default.yaml
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
