package configs

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// lines builds a file from numbered-at-a-glance lines, so the line numbers
// in the expected errors can be checked by eye.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

type parseCase struct {
	name string
	in   string
	// Exactly one of want and err is set: want edits a copy of the
	// defaults into the expected config, err is the exact error text.
	want func(c *Config)
	err  string
}

var parseCases = []parseCase{
	{name: "empty file", in: "", want: func(*Config) {}},
	{name: "comments only", in: lines("# nothing to see", ""), want: func(*Config) {}},
	{name: "empty document", in: lines("---"), want: func(*Config) {}},
	{name: "null section keeps defaults", in: lines("listen:"), want: func(*Config) {}},
	{
		name: "good minimal",
		in:   lines("workers: 4", "listen:", "  rtmp: :1936"),
		want: func(c *Config) {
			c.Workers = 4
			c.Listen.RTMP = ":1936"
		},
	},
	{
		name: "every key",
		in: lines(
			"workers: 8",
			"listen:",
			"  rtmp: 10.0.0.1:19350",
			"  http: '[::1]:8081'",
			"  api: ''",
			"log:",
			"  level: debug",
			"  format: json",
			"  file: /var/log/streamedge.log",
			"rtmp:",
			"  chunk_size: 4096",
			"  handshake_timeout: 2300ms",
			"  max_message_size: 1024",
			"play:",
			"  gop_cache: false",
			"  gop_cache_max_frames: 1",
			"  queue_length: 1m30s",
			"  send_timeout: 1s",
			"  max_skips: 1",
			"  mw_latency: 0",
			"  send_buffer: 65536",
			"rtc:",
			"  enabled: true",
			"  udp_port_base: 0",
			"  candidates: [203.0.113.9]",
			"  keyframe_interval: 0",
			"grace_start_wait: 0",
			"grace_final_wait: 10s",
			"force_grace_quit: true",
			"balance:",
			"  steering: pause",
			"  worker_cpu_high: 90",
			"  worker_cpu_low: 50.5",
			"  hot_for: 5s",
			"  shed_after: 20s",
			"  retire_after: 0",
			"  shed_rate: 5",
			"  shed_max: 50",
			"  writer_load_high: 1.2",
			"  writer_load_low: 0.5",
			"  max_connections: 50",
			"  worker_bytes_out_max: 500M",
			"  host_cpu_high: 70",
			"  host_bytes_out_max: 1.25G",
			"  host_max_connections: 100",
			"  retry_after: 10s",
			"  redirect: [{http: 'peer:8080', rtmp: 'peer:1935'}, {http: 'peer2:80'}]",
			"hosts:",
			"  redis: redis://:secret@198.18.0.1:6379/2",
			"  host_id: edge-1.example",
			"  advertise:",
			"    rtmp: 198.18.0.2:1935",
			"    http: edge-1.example:80",
			"    rtc: 198.18.0.2:8000",
			"  heartbeat: 500ms",
			"  ttl: 3s",
			"  load_factor: 1.5",
			"  resolve: false",
			"debug:",
			"  fault_injection: true",
			"api:",
			"  hosts: [edge.example.com]",
			"  cors_origins: ['https://console.example.com', '*']",
		),
		want: func(c *Config) {
			*c = Config{
				Workers: 8,
				Listen:  Listen{RTMP: "10.0.0.1:19350", HTTP: "[::1]:8081", API: ""},
				Log:     Log{Level: "debug", Format: "json", File: "/var/log/streamedge.log"},
				RTMP: RTMP{
					ChunkSize:        4096,
					HandshakeTimeout: Duration(2300 * time.Millisecond),
					MaxMessageSize:   1024,
				},
				Play: Play{
					GOPCache:          false,
					GOPCacheMaxFrames: 1,
					QueueLength:       Duration(90 * time.Second),
					SendTimeout:       Duration(time.Second),
					MaxSkips:          1,
					SendBuffer:        65536,
				},
				RTC:            RTC{Enabled: true, Candidates: []string{"203.0.113.9"}},
				GraceStartWait: 0,
				GraceFinalWait: Duration(10 * time.Second),
				ForceGraceQuit: true,
				Balance: Balance{Steering: "pause", WorkerCPUHigh: 90, WorkerCPULow: 50.5, HotFor: Duration(5 * time.Second),
					ShedAfter: Duration(20 * time.Second), ShedRate: 5, ShedMax: 50, WriterLoadHigh: 1.2, WriterLoadLow: 0.5, MaxConnections: 50, WorkerBytesOutMax: 500e6,
					HostCPUHigh: 70, HostBytesOutMax: 1.25e9, HostMaxConnections: 100, RetryAfter: Duration(10 * time.Second),
					Redirect: []Peer{{HTTP: "peer:8080", RTMP: "peer:1935"}, {HTTP: "peer2:80"}}},
				Hosts: Hosts{Redis: "redis://:secret@198.18.0.1:6379/2", HostID: "edge-1.example",
					Advertise: Advertise{RTMP: "198.18.0.2:1935", HTTP: "edge-1.example:80", RTC: "198.18.0.2:8000"},
					Heartbeat: Duration(500 * time.Millisecond), TTL: Duration(3 * time.Second), LoadFactor: 1.5},
				Debug: Debug{FaultInjection: true},
				API:   API{Hosts: []string{"edge.example.com"}, CORSOrigins: []string{"https://console.example.com", "*"}},
			}
		},
	},
	{name: "bounds are inclusive", in: lines("workers: 1024", "rtmp:", "  chunk_size: 65536"), want: func(c *Config) {
		c.Workers = 1024
		c.RTMP.ChunkSize = 65536
	}},
	{name: "flow mapping", in: lines("play: {max_skips: 5, gop_cache: no}"), want: func(c *Config) {
		c.Play.MaxSkips = 5
		c.Play.GOPCache = false
	}},

	// Durations.
	{name: "duration as int seconds", in: lines("play:", "  queue_length: 30"), want: func(c *Config) {
		c.Play.QueueLength = Duration(30 * time.Second)
	}},
	{name: "duration as string", in: lines("play:", "  send_timeout: 2300ms"), want: func(c *Config) {
		c.Play.SendTimeout = Duration(2300 * time.Millisecond)
	}},
	{name: "duration as quoted string", in: lines("rtmp:", `  handshake_timeout: "1m"`), want: func(c *Config) {
		c.RTMP.HandshakeTimeout = Duration(time.Minute)
	}},
	{
		name: "duration garbage",
		in:   lines("play:", "  queue_length: abc"),
		err:  `streamedge.yaml:2: play.queue_length: invalid duration "abc"`,
	},
	{
		name: "duration float is not seconds",
		in:   lines("play:", "  queue_length: 1.5"),
		err:  `streamedge.yaml:2: play.queue_length: invalid duration "1.5"`,
	},
	{
		name: "duration negative",
		in:   lines("play:", "  queue_length: -5", "  send_timeout: -3s"),
		err: lines(
			`streamedge.yaml:2: play.queue_length: invalid duration "-5": must not be negative`,
			`streamedge.yaml:3: play.send_timeout: invalid duration "-3s": must not be negative`,
		),
	},
	{
		name: "duration overflow",
		in:   lines("play:", "  queue_length: 9223372036854775807"),
		err:  `streamedge.yaml:2: play.queue_length: invalid duration "9223372036854775807"`,
	},
	{
		name: "duration not a scalar",
		in:   lines("play:", "  queue_length: {a: 1}"),
		err:  `streamedge.yaml:2: play.queue_length: invalid duration, got a mapping`,
	},
	{
		name: "duration in a flow mapping",
		in:   lines(`play: {queue_length: 5, send_timeout: "x"}`),
		err:  `streamedge.yaml:1: play.send_timeout: invalid duration "x"`,
	},

	// Balance.
	{name: "rate with suffix", in: lines("balance:", "  worker_bytes_out_max: 2.5k"), want: func(c *Config) {
		c.Balance.WorkerBytesOutMax = 2500
	}},
	{
		name: "rate garbage",
		in:   lines("balance:", "  host_bytes_out_max: fast"),
		err:  `streamedge.yaml:2: balance.host_bytes_out_max: invalid rate "fast" (bytes per second: 125000000, 125M, 1.25G or auto)`,
	},
	{
		name: "writer load values",
		in:   lines("balance:", "  writer_load_high: 0.8", "  writer_load_low: 0.8"),
		err:  `streamedge.yaml:3: balance.writer_load_low must be under balance.writer_load_high (0.8), got 0.8`,
	},
	{
		name: "writer load out of range",
		in:   lines("balance:", "  writer_load_high: 3", "  writer_load_low: -1"),
		err: lines(
			`streamedge.yaml:2: balance.writer_load_high must be between 0 and 2, got 3`,
			`streamedge.yaml:3: balance.writer_load_low must be between 0 and 2, got -1`,
		),
	},
	{
		name: "writer load off: any low",
		in:   lines("balance:", "  writer_load_high: 0", "  writer_load_low: 0.75"),
		want: func(c *Config) { c.Balance.WriterLoadHigh = 0 },
	},
	{
		name: "balance values",
		in: lines("balance:", "  steering: bpf", "  worker_cpu_high: 70", "  worker_cpu_low: 75", "  hot_for: 100ms",
			"  shed_after: 30s", "  retire_after: 10s", "  shed_rate: 0", "  worker_bytes_out_max: auto", "  redirect: [{}, {http: 'x'}]"),
		err: lines(
			`streamedge.yaml:2: balance.steering must be one of auto | cbpf | pause | off, got "bpf"`,
			`streamedge.yaml:4: balance.worker_cpu_low must be under balance.worker_cpu_high (70), got 75`,
			`streamedge.yaml:5: balance.hot_for must be >= 1s, got 100ms`,
			`streamedge.yaml:7: balance.retire_after must be 0 (never) or at least balance.shed_after (30s), got 10s`,
			`streamedge.yaml:8: balance.shed_rate must be between 0.01 and 100, got 0`,
			`streamedge.yaml:9: balance.worker_bytes_out_max cannot be auto: give bytes per second, or 0 for none`,
			`streamedge.yaml:10: balance.redirect[0] needs http or rtmp (host:port)`,
			`streamedge.yaml:10: balance.redirect[1].http must be host:port, got "x"`,
		),
	},

	// API.
	{name: "api auth", in: lines("api:", "  auth: {token: 0123456789abcdef, username: u, password: p}"), want: func(c *Config) {
		c.API.Auth = APIAuth{Token: "0123456789abcdef", Username: "u", Password: "p"}
	}},
	{
		name: "api auth values",
		in:   lines("api:", "  auth:", "    token: short", "    username: admin"),
		err: lines(
			`streamedge.yaml:3: api.auth.token must be at least 16 characters, got 5`,
			`streamedge.yaml:4: api.auth.username and api.auth.password go together: set both or neither`,
		),
	},

	// Hosts.
	{
		name: "hosts values",
		in: lines("hosts:", "  redis: http://:pw@r:6379", "  host_id: 'a b'", "  advertise:", "    rtmp: 0.0.0.0:1935",
			"    rtc: x", "  heartbeat: 10ms", "  ttl: 15ms", "  load_factor: 1"),
		err: lines(
			`streamedge.yaml:2: hosts.redis must be a redis://, rediss:// or unix:// URL, got "http://:xxxxx@r:6379"`,
			`streamedge.yaml:3: hosts.host_id must be 1-64 letters, digits, '.', '_', ':' or '-', got "a b"`,
			`streamedge.yaml:5: hosts.advertise.rtmp must name a reachable host and a port other than 0, got "0.0.0.0:1935"`,
			`streamedge.yaml:2: hosts.advertise.http must be set when hosts.redis is (host:port that clients reach)`,
			`streamedge.yaml:6: hosts.advertise.rtc must be host:port, got "x"`,
			`streamedge.yaml:7: hosts.heartbeat must be >= 100ms, got 10ms`,
			`streamedge.yaml:8: hosts.ttl must be at least twice hosts.heartbeat (10ms), got 15ms`,
			`streamedge.yaml:9: hosts.load_factor must be over 1 and at most 10, got 1`,
		),
	},
	{
		name: "hosts without advertised addresses",
		in:   lines("hosts:", "  redis: redis://127.0.0.1:6379"),
		err: lines(
			`streamedge.yaml:2: hosts.advertise.rtmp must be set when hosts.redis is (host:port that clients reach)`,
			`streamedge.yaml:2: hosts.advertise.http must be set when hosts.redis is (host:port that clients reach)`,
		),
	},

	{
		name: "origin cluster needs hosts, and alone",
		in: lines("vhosts:", "  a:", "    cluster: {mode: remote, origin: cluster}", "  b:",
			"    cluster: {mode: remote, origin: [cluster, 'o:1935']}"),
		err: lines(
			`streamedge.yaml:3: vhosts.a.cluster.origin is cluster, which needs hosts.redis (the store that says which host publishes a stream)`,
			`streamedge.yaml:5: vhosts.b.cluster.origin cannot mix cluster with origin addresses: give cluster alone, or a list of hosts`,
		),
	},
	{
		name: "origin cluster",
		in: lines("vhosts:", "  edge:", "    cluster: {mode: remote, origin: cluster}", "hosts:", "  redis: redis://r:6379",
			"  advertise: {rtmp: 'e:1935', http: 'e:8080'}"),
		want: func(c *Config) {
			c.Vhosts = map[string]Vhost{"edge": {Cluster: Cluster{Mode: "remote", Origin: Origins{"cluster"}}}}
			c.Hosts.Redis = "redis://r:6379"
			c.Hosts.Advertise = Advertise{RTMP: "e:1935", HTTP: "e:8080"}
		},
	},

	// Syntax and structure.
	{
		name: "syntax error",
		in:   lines("workers: 2", "listen: x: y"),
		err:  "streamedge.yaml:2: yaml: mapping values are not allowed in this context",
	},
	{
		name: "syntax error without line",
		in:   lines("workers: *nope"),
		err:  "streamedge.yaml: yaml: unknown anchor 'nope' referenced",
	},
	{
		name: "top level not a mapping",
		in:   lines("- workers: 1"),
		err:  "streamedge.yaml:1: the file must be a mapping of keys, got a list",
	},
	{
		name: "multi-line value stays on one line",
		in:   "0\n\n0",
		err:  `streamedge.yaml:1: the file must be a mapping of keys, got "0\n0"`,
	},
	{
		name: "second document",
		in:   lines("workers: 1", "---", "workers: 2"),
		err:  "streamedge.yaml:2: only one YAML document is allowed",
	},
	{
		name: "unknown top-level key",
		in:   lines("workers: 1", "", "lisen:", "  rtmp: :1935"),
		err:  `streamedge.yaml:3: unknown key "lisen"`,
	},
	{
		name: "unknown nested key",
		in:   lines("rtmp:", "  chunk_size: 4096", "  chunksize: 4096"),
		err:  `streamedge.yaml:3: unknown key "rtmp.chunksize"`,
	},
	{
		name: "duplicate key",
		in:   lines("rtmp:", "  chunk_size: 4096", "  chunk_size: 8192"),
		err:  `streamedge.yaml:3: key "rtmp.chunk_size" is set twice (first at line 2)`,
	},
	{
		name: "wrong type string for int",
		in:   lines("workers: many"),
		err:  `streamedge.yaml:1: workers must be an integer, got "many"`,
	},
	{
		name: "wrong type long value is not truncated",
		in:   lines("rtmp:", "  max_message_size: sixteen-megabytes"),
		err:  `streamedge.yaml:2: rtmp.max_message_size must be an integer, got "sixteen-megabytes"`,
	},
	{
		name: "wrong type float for int",
		in:   lines("workers: 1.5"),
		err:  "streamedge.yaml:1: workers must be an integer, got 1.5",
	},
	{
		name: "wrong type bool",
		in:   lines("play:", "  gop_cache: maybe"),
		err:  `streamedge.yaml:2: play.gop_cache must be true or false, got "maybe"`,
	},
	{
		name: "wrong type section",
		in:   lines("listen: 1935"),
		err:  "streamedge.yaml:1: listen must be a mapping, got 1935",
	},
	{
		name: "wrong type mapping for int",
		in:   lines("rtmp:", "  chunk_size: {x: 1}"),
		err:  "streamedge.yaml:2: rtmp.chunk_size must be an integer, got a mapping",
	},
	{
		name: "decode errors in file order",
		in:   lines("workers: 1.5", "rtmp: {chunk_size: x, max_message_size: 2e6}", "nope: 1"),
		err: lines(
			"streamedge.yaml:1: workers must be an integer, got 1.5",
			"streamedge.yaml:2: rtmp.max_message_size must be an integer, got 2e6",
			`streamedge.yaml:2: rtmp.chunk_size must be an integer, got "x"`,
			`streamedge.yaml:3: unknown key "nope"`,
		),
	},

	// Validation, one rule at a time.
	{name: "workers negative", in: lines("log:", "  level: info", "workers: -1"),
		err: "streamedge.yaml:3: workers must be >= 0, got -1"},
	{name: "workers too many", in: lines("workers: 1025"),
		err: "streamedge.yaml:1: workers must be <= 1024, got 1025"},
	{name: "listen empty", in: lines("listen:", "  rtmp: ''"),
		err: "streamedge.yaml:2: listen.rtmp must not be empty"},
	{name: "listen http on the rtmp port", in: lines("listen:", "  rtmp: 0.0.0.0:1935", "  http: 127.0.0.1:1935"),
		err: "streamedge.yaml:3: listen.http must not share a port with listen.rtmp (0.0.0.0:1935 and 127.0.0.1:1935)"},
	{name: "listen api on the http port", in: lines("listen:", "  http: :8080", "  api: '[::]:8080'"),
		err: "streamedge.yaml:3: listen.api must not share a port with listen.http (:8080 and [::]:8080)"},
	{name: "listen ports 0 never clash", in: lines("listen:", "  rtmp: 127.0.0.1:0", "  http: 127.0.0.1:0", "  api: 127.0.0.1:0"),
		want: func(c *Config) {
			c.Listen.RTMP, c.Listen.HTTP, c.Listen.API = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		}},
	{name: "listen same port on two hosts", in: lines("listen:", "  rtmp: 127.0.0.1:1935", "  http: 127.0.0.2:1935"),
		want: func(c *Config) { c.Listen.RTMP, c.Listen.HTTP = "127.0.0.1:1935", "127.0.0.2:1935" }},
	{name: "api host with a port", in: lines("api:", "  hosts: ['edge:1985']"),
		err: "streamedge.yaml:2: api.hosts must be host names without port or scheme, got \"edge:1985\""},
	{name: "api cors origin with a path", in: lines("api:", "  cors_origins: ['https://x.example/console']"),
		err: "streamedge.yaml:2: api.cors_origins must be \"*\" or scheme://host[:port], got \"https://x.example/console\""},
	{name: "listen api may be empty", in: lines("listen:", "  api: ''"), want: func(c *Config) { c.Listen.API = "" }},
	{name: "listen http may not", in: lines("listen:", "  http: ''"),
		err: "streamedge.yaml:2: listen.http must not be empty"},
	{name: "listen bare port", in: lines("listen:", "  rtmp: 1935"),
		err: `streamedge.yaml:2: listen.rtmp must be host:port, got "1935" (did you mean ":1935"?)`},
	{name: "listen no port", in: lines("listen:", "  api: localhost"),
		err: `streamedge.yaml:2: listen.api must be host:port, got "localhost"`},
	{name: "listen port zero picks a free port", in: lines("listen:", "  http: 127.0.0.1:0"),
		want: func(c *Config) { c.Listen.HTTP = "127.0.0.1:0" }},
	{name: "grace wait too long", in: lines("grace_final_wait: 2h"),
		err: "streamedge.yaml:1: grace_final_wait must be <= 1h0m0s, got 2h0m0s"},
	{name: "listen port too big", in: lines("listen:", "  http: :65536"),
		err: `streamedge.yaml:2: listen.http port must be between 0 and 65535, got "65536"`},
	{name: "listen port named", in: lines("listen:", "  http: :http"),
		err: `streamedge.yaml:2: listen.http port must be between 0 and 65535, got "http"`},
	{name: "rtc enabled with candidates", in: lines("rtc:", "  enabled: true", "  udp_port_base: 9000", "  candidates: [192.0.2.7, '2001:db8::1']"),
		want: func(c *Config) {
			c.RTC = RTC{Enabled: true, UDPPortBase: 9000, Candidates: []string{"192.0.2.7", "2001:db8::1"}, KeyframeInterval: Duration(3 * time.Second)}
		}},
	{name: "rtc candidate not an IP", in: lines("rtc:", "  candidates:", "    - 192.0.2.7", "    - example.com"),
		err: `streamedge.yaml:2: rtc.candidates[1] must be an IP address, got "example.com"`},
	{name: "rtc keyframe interval too short", in: lines("rtc:", "  keyframe_interval: 100ms"),
		err: "streamedge.yaml:2: rtc.keyframe_interval must be 0 (never) or >= 500ms, got 100ms"},
	{name: "rtc port range past 65535", in: lines("workers: 4", "rtc:", "  udp_port_base: 65533"),
		err: "streamedge.yaml:3: rtc.udp_port_base must be between 0 and 65532, got 65533"},
	{name: "log level", in: lines("log:", "  level: verbose"),
		err: `streamedge.yaml:2: log.level must be one of debug | info | warn | error, got "verbose"`},
	{name: "log format", in: lines("log:", "  format: xml"),
		err: `streamedge.yaml:2: log.format must be one of text | json, got "xml"`},
	{name: "chunk size too small", in: lines("rtmp:", "  chunk_size: 99"),
		err: "streamedge.yaml:2: rtmp.chunk_size must be between 128 and 65536, got 99"},
	{name: "chunk size too big", in: lines("rtmp:", "  chunk_size: 65537"),
		err: "streamedge.yaml:2: rtmp.chunk_size must be between 128 and 65536, got 65537"},
	{name: "handshake timeout zero", in: lines("rtmp:", "  handshake_timeout: 0"),
		err: "streamedge.yaml:2: rtmp.handshake_timeout must be > 0, got 0s"},
	{name: "max message size too small", in: lines("rtmp:", "  max_message_size: 1023"),
		err: "streamedge.yaml:2: rtmp.max_message_size must be between 1024 and 16777215, got 1023"},
	{name: "max message size too big", in: lines("rtmp:", "  max_message_size: 16777216"),
		err: "streamedge.yaml:2: rtmp.max_message_size must be between 1024 and 16777215, got 16777216"},
	{name: "gop cache frames", in: lines("play:", "  gop_cache_max_frames: 0"),
		err: "streamedge.yaml:2: play.gop_cache_max_frames must be >= 1, got 0"},
	{name: "queue length", in: lines("play:", "  queue_length: 999ms"),
		err: "streamedge.yaml:2: play.queue_length must be >= 1s, got 999ms"},
	{name: "send timeout", in: lines("play:", "  send_timeout: 0"),
		err: "streamedge.yaml:2: play.send_timeout must be >= 1s, got 0s"},
	{name: "send buffer too small", in: lines("play:", "  send_buffer: 4096"),
		err: "streamedge.yaml:2: play.send_buffer must be between 16384 and 16777216, got 4096"},
	{name: "max skips", in: lines("play:", "  max_skips: 0"),
		err: "streamedge.yaml:2: play.max_skips must be >= 1, got 0"},
	{
		name: "multiple validation errors",
		in: lines(
			"workers: -2",
			"log: {level: loud, format: json}",
			"rtmp:",
			"  chunk_size: 99",
			"play:",
			"  max_skips: 0",
		),
		err: lines(
			"streamedge.yaml:1: workers must be >= 0, got -2",
			`streamedge.yaml:2: log.level must be one of debug | info | warn | error, got "loud"`,
			"streamedge.yaml:4: rtmp.chunk_size must be between 128 and 65536, got 99",
			"streamedge.yaml:6: play.max_skips must be >= 1, got 0",
		),
	},
	{
		// -t and a reload report the whole file in one go, not the keys
		// that do not decode first and the bad values on the next run.
		name: "decode and validation errors together",
		in: lines(
			"workers: abc",
			"rtmp:",
			"  chunk_size: 99",
			"play:",
			"  max_skips: 0",
			"  bogus: 1",
		),
		err: strings.TrimSuffix(lines(
			`streamedge.yaml:1: workers must be an integer, got "abc"`,
			`streamedge.yaml:6: unknown key "play.bogus"`,
			"streamedge.yaml:3: rtmp.chunk_size must be between 128 and 65536, got 99",
			"streamedge.yaml:5: play.max_skips must be >= 1, got 0",
		), "\n"),
	},
	{
		// A merged-in value has no "log.level" key of its own to point at.
		name: "validation error without a line",
		in:   lines("log: {<<: {level: loud}}"),
		err:  `streamedge.yaml: log.level must be one of debug | info | warn | error, got "loud"`,
	},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("streamedge.yaml", []byte(tc.in))
			if tc.err != "" {
				if err == nil {
					t.Fatalf("Parse succeeded, want error\n%s", tc.err)
				}
				if want := strings.TrimSuffix(tc.err, "\n"); err.Error() != want {
					t.Fatalf("error:\n%s\nwant:\n%s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Default()
			tc.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("config:\n%+v\nwant:\n%+v", *got, *want)
			}
		})
	}
}

func TestParseErrorsCarryPosition(t *testing.T) {
	_, err := Parse("a.yaml", []byte(lines("workers: 1", "rtmp:", "  chunk_size: 1")))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *Error", err)
	}
	if e.File != "a.yaml" || e.Line != 3 {
		t.Fatalf("got %s:%d, want a.yaml:3", e.File, e.Line)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		err  Error
		want string
	}{
		{Error{File: "f.yaml", Line: 4, Msg: "bad"}, "f.yaml:4: bad"},
		{Error{File: "f.yaml", Msg: "bad"}, "f.yaml: bad"},
		{Error{Msg: "bad"}, "bad"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestDefault(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("default config does not validate: %v", err)
	}
	parsed, err := Parse("default.yaml", DefaultYAML())
	if err != nil {
		t.Fatalf("Parse(DefaultYAML()): %v", err)
	}
	if !reflect.DeepEqual(parsed, d) {
		t.Fatalf("parsed default %+v differs from Default() %+v", *parsed, *d)
	}
	// Spot-check the documented values, which clients of this package
	// are promised in default.yaml's comments.
	if d.Workers != 0 || d.RTMP.ChunkSize != 60000 || d.Play.QueueLength.Std() != 30*time.Second || !d.Play.GOPCache {
		t.Fatalf("unexpected defaults: %+v", *d)
	}
	d.Workers = 99
	if Default().Workers == 99 {
		t.Fatal("Default() hands out shared state")
	}
}

func TestDefaultYAMLIsACopy(t *testing.T) {
	b := DefaultYAML()
	b[0] = '!'
	if DefaultYAML()[0] == '!' {
		t.Fatal("DefaultYAML() exposes the embedded bytes")
	}
}

// TestDefaultYAMLDocumentsEveryKey catches a field added to Config but not
// to default.yaml, where it would go undocumented with a zero default.
func TestDefaultYAMLDocumentsEveryKey(t *testing.T) {
	dumped, err := Default().Dump()
	if err != nil {
		t.Fatal(err)
	}
	var fromFile, fromDump map[string]any
	if err := yaml.Unmarshal(DefaultYAML(), &fromFile); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(dumped, &fromDump); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile, fromDump) {
		t.Fatalf("default.yaml:\n%v\ndoes not match Config:\n%v", fromFile, fromDump)
	}
}

func TestDumpRoundTrip(t *testing.T) {
	c := Default()
	c.Workers = 3
	c.Log.File = "/tmp/a: b.log"
	c.RTMP.HandshakeTimeout = Duration(1500 * time.Millisecond)
	c.Play.QueueLength = Duration(time.Hour + time.Nanosecond)
	c.Balance.WorkerBytesOutMax = 123456789.5
	c.Balance.HostBytesOutMax = 1.25e9
	c.Balance.Redirect = []Peer{{HTTP: "peer:8080"}}
	out, err := c.Dump()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "handshake_timeout: 1.5s\n") {
		t.Errorf("durations should dump as strings:\n%s", out)
	}
	back, err := Parse("dump.yaml", out)
	if err != nil {
		t.Fatalf("Parse(Dump()): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip:\n%+v\nwant:\n%+v", *back, *c)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	missing := filepath.Join(dir, "missing.yaml")
	if err := os.WriteFile(good, []byte("workers: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("workers: 2\nlisen: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	c, err := Load(good)
	if err != nil || c.Workers != 2 {
		t.Fatalf("Load(good) = %+v, %v", c, err)
	}

	_, err = Load(bad)
	if want := bad + `:2: unknown key "lisen"`; err == nil || err.Error() != want {
		t.Fatalf("Load(bad) error %v, want %s", err, want)
	}

	_, err = Load(missing)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) error %v, want fs.ErrNotExist", err)
	}
	if want := missing + ": cannot read config: no such file or directory"; err.Error() != want {
		t.Fatalf("Load(missing) error %q, want %q", err, want)
	}
}

func TestSlogLevel(t *testing.T) {
	for _, tc := range []struct {
		level string
		want  slog.Level
	}{
		{"debug", slog.LevelDebug},
		{"info", slog.LevelInfo},
		{"warn", slog.LevelWarn},
		{"error", slog.LevelError},
		{"", slog.LevelInfo},
	} {
		if got := (Log{Level: tc.level}).SlogLevel(); got != tc.want {
			t.Errorf("SlogLevel(%q) = %v, want %v", tc.level, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.in))
	}
	f.Add(DefaultYAML())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml:") {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that fails Validate: %v", err)
		}
		out, err := c.Dump()
		if err != nil {
			t.Fatalf("Dump: %v", err)
		}
		back, err := Parse("dump.yaml", out)
		if err != nil {
			t.Fatalf("Parse(Dump()): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip:\n%+v\nwant:\n%+v", *back, *c)
		}
	})
}
