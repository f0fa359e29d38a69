package ipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// frame builds a frame by hand: the length prefix, the kind byte, the body.
func frame(k Kind, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(body)))
	return append(append(b, byte(k)), body...)
}

// messages is the one table: every kind, its exact bytes, its value. It
// drives Marshal, Unmarshal, the Conn round trip and the fuzz seeds.
var messages = []struct {
	name  string
	bytes []byte
	msg   Message
}{
	{
		name:  "hello",
		bytes: []byte("\x00\x00\x00\x37\x01" + `{"Version":"1.2.3","Slot":2,"PID":4242,"GOMAXPROCS":1}`),
		msg:   &Hello{Version: "1.2.3", Slot: 2, PID: 4242, GOMAXPROCS: 1},
	},
	{
		name:  "configure",
		bytes: frame(KindConfigure, `{"ConfigYAML":"d29ya2VyczogMgo=","RelayDir":"/run/streamedge"}`),
		msg:   &Configure{ConfigYAML: []byte("workers: 2\n"), RelayDir: "/run/streamedge"},
	},
	{
		name:  "ready",
		bytes: frame(KindReady, `{"RelayAddr":"/run/streamedge/relay-2.sock"}`),
		msg:   &Ready{RelayAddr: "/run/streamedge/relay-2.sock"},
	},
	{
		name: "load",
		bytes: frame(KindLoad, `{"Time":"2025-11-25T12:00:01.5Z","CPUPercent":81.25,"RSSBytes":52428800,`+
			`"Conns":{"flv_play":4,"relay_out":2,"rtmp_play":3,"rtmp_publish":1},"Connections":10,`+
			`"BytesInPerSec":250000,"BytesOutPerSec":1750000.5,"BytesIn":9000000,"BytesOut":63000000,`+
			`"Streams":[{"Stream":"live/cam1","Publishing":true,"Relay":false,"Players":7,"BytesIn":9000000,"BitrateKbps":2000}]}`),
		msg: &Load{
			Time:       time.Date(2025, 11, 25, 12, 0, 1, 500_000_000, time.UTC),
			CPUPercent: 81.25, RSSBytes: 50 << 20,
			Conns:         ConnCounts{ConnRTMPPublish: 1, ConnRTMPPlay: 3, ConnFLVPlay: 4, ConnRelayOut: 2},
			Connections:   10,
			BytesInPerSec: 250_000, BytesOutPerSec: 1_750_000.5, BytesIn: 9_000_000, BytesOut: 63_000_000,
			Streams: []StreamLoad{{Stream: "live/cam1", Publishing: true, Players: 7, BytesIn: 9_000_000, BitrateKbps: 2000}},
		},
	},
	{
		name:  "claim",
		bytes: frame(KindClaim, `{"ID":7,"Stream":"live/cam1"}`),
		msg:   &Claim{ID: 7, Stream: "live/cam1"},
	},
	{
		name:  "claim reply refused",
		bytes: frame(KindClaimReply, `{"ID":7,"OK":false,"Owner":3,"Err":"stream live/cam1 is already published on worker 3"}`),
		msg:   &ClaimReply{ID: 7, Owner: 3, Err: "stream live/cam1 is already published on worker 3"},
	},
	{
		name:  "release",
		bytes: []byte("\x00\x00\x00\x17\x07" + `{"Stream":"live/cam1"}`),
		msg:   &Release{Stream: "live/cam1"},
	},
	{
		name:  "lookup",
		bytes: frame(KindLookup, `{"ID":18446744073709551615,"Stream":"live/cam1"}`),
		msg:   &Lookup{ID: 1<<64 - 1, Stream: "live/cam1"},
	},
	{
		name:  "peek",
		bytes: frame(KindLookup, `{"ID":3,"Stream":"live/cam1","Peek":true}`),
		msg:   &Lookup{ID: 3, Stream: "live/cam1", Peek: true},
	},
	{
		name:  "lookup reply",
		bytes: frame(KindLookupReply, `{"ID":8,"Found":true,"Owner":1,"RelayAddr":"/run/streamedge/relay-1.sock"}`),
		msg:   &LookupReply{ID: 8, Found: true, Owner: 1, RelayAddr: "/run/streamedge/relay-1.sock"},
	},
	{
		name:  "place anywhere",
		bytes: frame(KindPlace, `{"ID":9,"Slot":-1}`),
		msg:   &Place{ID: 9, Slot: -1},
	},
	{
		name:  "place reply",
		bytes: frame(KindPlaceReply, `{"ID":9,"Found":true,"Slot":1,"RelayAddr":"/run/streamedge/relay-1.sock"}`),
		msg:   &PlaceReply{ID: 9, Found: true, Slot: 1, RelayAddr: "/run/streamedge/relay-1.sock"},
	},
	{
		name:  "redirect",
		bytes: frame(KindRedirect, `{"ID":10,"Stream":"edge/live/s"}`),
		msg:   &Redirect{ID: 10, Stream: "edge/live/s"},
	},
	{
		name:  "redirect reply",
		bytes: frame(KindRedirectReply, `{"ID":10,"Host":"e2","HTTP":"198.18.0.4:8080","RTMP":"198.18.0.4:1935"}`),
		msg:   &RedirectReply{ID: 10, Host: "e2", HTTP: "198.18.0.4:8080", RTMP: "198.18.0.4:1935"},
	},
	{
		name:  "redirect refused",
		bytes: frame(KindRedirectReply, `{"ID":11,"Err":"every other host of the cluster is full"}`),
		msg:   &RedirectReply{ID: 11, Err: "every other host of the cluster is full"},
	},
	{
		name:  "stream published",
		bytes: frame(KindStreamPublished, `{"Stream":"live/cam1","Owner":1,"RelayAddr":"/run/streamedge/relay-1.sock"}`),
		msg:   &StreamPublished{Stream: "live/cam1", Owner: 1, RelayAddr: "/run/streamedge/relay-1.sock"},
	},
	{
		name:  "command",
		bytes: []byte("\x00\x00\x00\x35\x0b" + `{"Name":"drain","Reason":"cpu 93% over 80% for 30s"}`),
		msg:   &Command{Name: CmdDrain, Reason: "cpu 93% over 80% for 30s"},
	},
	{
		name:  "stream unpublished",
		bytes: frame(KindStreamUnpublished, `{"Stream":"live/cam1","Owner":1}`),
		msg:   &StreamUnpublished{Stream: "live/cam1", Owner: 1},
	},
	{
		name:  "list clients",
		bytes: frame(KindListClients, `{"ID":9}`),
		msg:   &ListClients{ID: 9},
	},
	{
		name: "client list",
		bytes: frame(KindClientList, `{"ID":9,"Clients":[{"ID":"","Kind":"flv_play","Addr":"127.0.0.1:5000","Stream":"v/live/cam1",`+
			`"Since":"2026-11-25T13:00:00Z","BytesSent":4096,"BytesIn":0}],"Truncated":false}`),
		msg: &ClientList{ID: 9, Clients: []Client{{Kind: ConnFLVPlay, Addr: "127.0.0.1:5000", Stream: "v/live/cam1",
			Since: time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC), BytesSent: 4096}}},
	},
	{
		name:  "admission",
		bytes: frame(KindAdmission, `{"Refuse":true,"Reason":"host_cpu_high","Description":"server busy: host cpu 92% over 80%"}`),
		msg:   &Admission{Refuse: true, Reason: "host_cpu_high", Description: "server busy: host cpu 92% over 80%"},
	},
	{
		name:  "shed",
		bytes: frame(KindShed, `{"PerSec":4,"Reason":"cpu 95% over 80% for 10s"}`),
		msg:   &Shed{PerSec: 4, Reason: "cpu 95% over 80% for 10s"},
	},
	{
		name:  "shed by moving",
		bytes: frame(KindShed, `{"PerSec":2,"Reason":"hot","To":[{"Slot":1,"Addr":"/run/handoff-1.sock","Weight":60}]}`),
		msg:   &Shed{PerSec: 2, Reason: "hot", To: []ShedTarget{{Slot: 1, Addr: "/run/handoff-1.sock", Weight: 60}}},
	},
	{
		name:  "move",
		bytes: frame(KindMove, `{"ID":5,"N":10,"To":1,"ToAddr":"/run/handoff-1.sock","Reason":"moved through the API","PerSec":0}`),
		msg:   &Move{ID: 5, N: 10, To: 1, ToAddr: "/run/handoff-1.sock", Reason: "moved through the API"},
	},
	{
		name:  "moved",
		bytes: frame(KindMoved, `{"ID":5,"Moved":9,"Kept":1,"Closed":0,"Err":""}`),
		msg:   &Moved{ID: 5, Moved: 9, Kept: 1},
	},
	{
		name:  "kick",
		bytes: frame(KindKick, `{"ID":4,"Client":"rtmp.12","Reason":"kicked by the API"}`),
		msg:   &Kick{ID: 4, Client: "rtmp.12", Reason: "kicked by the API"},
	},
	{
		name:  "kicked",
		bytes: frame(KindKicked, `{"ID":4,"Found":true}`),
		msg:   &Kicked{ID: 4, Found: true},
	},
	{
		name:  "burn",
		bytes: frame(KindBurn, `{"Percent":90,"For":30000000000}`),
		msg:   &Burn{Percent: 90, For: 30 * time.Second},
	},
	{
		name:  "burn per player",
		bytes: frame(KindBurn, `{"Percent":3,"For":30000000000,"PerPlayer":true}`),
		msg:   &Burn{Percent: 3, For: 30 * time.Second, PerPlayer: true},
	},
	{
		name: "load with refusals",
		bytes: frame(KindLoad, `{"Time":"0001-01-01T00:00:00Z","CPUPercent":0,"RSSBytes":0,`+
			`"Conns":null,"Connections":0,`+
			`"BytesInPerSec":0,"BytesOutPerSec":0,"BytesIn":0,"BytesOut":0,"Refusals":{"http_flv/capped":3},"Shed":7,"Streams":null,`+
			`"Junk":{"rtmp/no_handshake":2}}`),
		msg: &Load{Refusals: map[string]uint64{"http_flv/capped": 3}, Shed: 7, Junk: map[string]uint64{"rtmp/no_handshake": 2}},
	},
	{
		name:  "pull",
		bytes: frame(KindPull, `{"Stream":"v/live/cam1","Origins":["10.0.0.2:1935","10.0.0.1:1935"],"Protocol":"rtmp","UpVhost":"up.v"}`),
		msg:   &Pull{Stream: "v/live/cam1", Origins: []string{"10.0.0.2:1935", "10.0.0.1:1935"}, Protocol: "rtmp", UpVhost: "up.v"},
	},
	{
		name:  "upstream event",
		bytes: frame(KindUpstreamEvent, `{"Stream":"v/live/cam1","Origin":"10.0.0.2:1935","State":"ended","Err":"stream not found","NotFound":true,"Bytes":77}`),
		msg:   &UpstreamEvent{Stream: "v/live/cam1", Origin: "10.0.0.2:1935", State: UpstreamEnded, Err: "stream not found", NotFound: true, Bytes: 77},
	},
	{
		name: "load with an upstream",
		bytes: frame(KindLoad, `{"Time":"0001-01-01T00:00:00Z","CPUPercent":0,"RSSBytes":0,"Conns":null,"Connections":0,`+
			`"BytesInPerSec":0,"BytesOutPerSec":0,"BytesIn":0,"BytesOut":0,"Streams":[{"Stream":"v/live/cam1","Publishing":true,"Relay":true,"Players":1,"BytesIn":5,"BitrateKbps":0,`+
			`"Upstream":{"Origin":"o:1935","State":"live","Since":"2026-11-25T13:00:00Z","Bytes":5,"Failovers":1}}]}`),
		msg: &Load{Streams: []StreamLoad{{Stream: "v/live/cam1", Publishing: true, Relay: true, Players: 1, BytesIn: 5,
			Upstream: &Upstream{Origin: "o:1935", State: "live", Since: time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC), Bytes: 5, Failovers: 1}}}},
	},
}

func TestMarshal(t *testing.T) {
	for _, tt := range messages {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.bytes) {
				t.Errorf("Marshal:\n got %q\nwant %q", got, tt.bytes)
			}
		})
	}
}

func TestUnmarshal(t *testing.T) {
	for _, tt := range messages {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unmarshal(tt.bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Errorf("Unmarshal:\n got %#v\nwant %#v", got, tt.msg)
			}
		})
	}
}

// TestEveryKind keeps the table, the names and the decoder in step with the
// list of kinds.
func TestEveryKind(t *testing.T) {
	inTable := map[Kind]bool{}
	for _, tt := range messages {
		inTable[tt.msg.Kind()] = true
	}
	for k := Kind(1); k <= kindLast; k++ {
		if !inTable[k] {
			t.Errorf("kind %d (%s) has no entry in the messages table", k, k)
		}
		if strings.HasPrefix(k.String(), "Kind(") {
			t.Errorf("kind %d has no name", k)
		}
		if _, err := Unmarshal(frame(k, `{}`)); err != nil {
			t.Errorf("kind %s: empty object does not decode: %v", k, err)
		}
	}
	for _, k := range []Kind{0, kindLast + 1, 255} {
		if got, want := k.String(), "Kind("; !strings.HasPrefix(got, want) {
			t.Errorf("Kind(%d).String() = %q", k, got)
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		is   error
	}{
		{"nil", nil, nil},
		{"nil pointer", (*Hello)(nil), nil},
		{"over MaxFrame", &Configure{ConfigYAML: make([]byte, MaxFrame)}, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Marshal(tt.msg)
			if err == nil {
				t.Fatalf("Marshal = %d bytes, want an error", len(b))
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Marshal error %v, want %v", err, tt.is)
			}
		})
	}
	// The largest message that fits is accepted and read back.
	max := &Configure{ConfigYAML: make([]byte, (MaxFrame-len(`{"ConfigYAML":"","RelayDir":""}`)-1)/4*3)}
	b, err := Marshal(max)
	if err != nil {
		t.Fatalf("Marshal of a %d-byte frame: %v", len(b), err)
	}
	if _, err := ReadFrame(bytes.NewReader(b)); err != nil {
		t.Fatalf("ReadFrame of a %d-byte frame: %v", len(b), err)
	}
}

// badFrames are frames Unmarshal must refuse; they also seed the fuzzers.
var badFrames = []struct {
	name  string
	bytes []byte
	is    error  // errors.Is, if set
	text  string // in the message, if set
}{
	{name: "nothing", bytes: nil, is: io.ErrUnexpectedEOF},
	{name: "half a length", bytes: []byte{0, 0}, is: io.ErrUnexpectedEOF},
	{name: "empty frame", bytes: []byte{0, 0, 0, 0}, is: ErrEmptyFrame},
	{name: "length over MaxFrame", bytes: []byte{0, 0x10, 0, 1, 1}, is: ErrFrameTooLarge},
	{name: "length 4 GiB", bytes: []byte{0xff, 0xff, 0xff, 0xff}, is: ErrFrameTooLarge},
	{name: "cut short", bytes: frame(KindRelease, `{"Stream":"a"}`)[:10], is: io.ErrUnexpectedEOF},
	{name: "bytes after the frame", bytes: append(frame(KindRelease, `{"Stream":"a"}`), 0), is: ErrTrailingData},
	{name: "second JSON value", bytes: frame(KindRelease, `{"Stream":"a"}{}`), is: ErrTrailingData},
	{name: "garbage after JSON", bytes: frame(KindRelease, `{"Stream":"a"} x`), is: ErrTrailingData},
	{name: "kind zero", bytes: frame(0, `{}`), is: ErrUnknownKind},
	{name: "kind from the future", bytes: frame(kindLast+1, `{}`), is: ErrUnknownKind},
	{name: "kind 255", bytes: frame(255, `{}`), is: ErrUnknownKind},
	{name: "no body", bytes: frame(KindHello, ``), text: "no JSON body"},
	{name: "garbage JSON", bytes: frame(KindHello, `{"Version":`), is: io.ErrUnexpectedEOF},
	{name: "not JSON", bytes: frame(KindHello, "\x00\x01\x02"), text: "invalid character"},
	{name: "unknown field", bytes: frame(KindHello, `{"Version":"1","Shard":2}`), text: `unknown field "Shard"`},
	{name: "wrong type", bytes: frame(KindHello, `{"Slot":"two"}`), text: "cannot unmarshal string"},
	{name: "array body", bytes: frame(KindCommand, `["quit"]`), text: "cannot unmarshal array"},
	{name: "int overflow", bytes: frame(KindClaim, `{"ID":18446744073709551616}`), text: "cannot unmarshal number"},
}

func TestUnmarshalErrors(t *testing.T) {
	for _, tt := range badFrames {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Unmarshal(tt.bytes)
			if err == nil {
				t.Fatalf("Unmarshal = %#v, want an error", m)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
			if !strings.HasPrefix(err.Error(), "ipc: ") {
				t.Errorf("error %q does not say it is from ipc", err)
			}
			// A bad frame must never look like the peer going away.
			if errors.Is(err, io.EOF) {
				t.Errorf("error %q is io.EOF", err)
			}
		})
	}
}

// tripwire is a reader that gives its bytes and then fails the test if it
// is read again: a stand-in for a peer that would never send the rest.
type tripwire struct {
	t    testing.TB
	data []byte
}

func (r *tripwire) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		r.t.Fatal("ReadFrame read past the length of a frame it should refuse")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadFrameRefusesBeforeAllocating(t *testing.T) {
	for _, n := range []uint32{MaxFrame + 1, 1 << 31, 1<<32 - 1} {
		hdr := binary.BigEndian.AppendUint32(nil, n)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 21 {
			_, err := ReadFrame(&tripwire{t: t, data: hdr})
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("length %d: error %v, want ErrFrameTooLarge", n, err)
			}
		}
		runtime.ReadMemStats(&after)
		// Bytes, not a count of allocations: the count varies under -race,
		// and what matters is that the claimed frame is never allocated.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
			t.Errorf("length %d: 21 refusals allocated %d bytes", n, grew)
		}
	}
}

func TestReadFrame(t *testing.T) {
	good := frame(KindRelease, `{"Stream":"a"}`)
	tests := []struct {
		name  string
		input []byte
		want  []byte
		is    error
	}{
		{name: "one frame", input: good, want: good},
		{name: "first of two", input: append(append([]byte{}, good...), good...), want: good},
		{name: "end between frames", input: nil, is: io.EOF},
		{name: "end inside the length", input: good[:3], is: io.ErrUnexpectedEOF},
		{name: "end inside the body", input: good[:len(good)-1], is: io.ErrUnexpectedEOF},
		{name: "end after the length", input: good[:4], is: io.ErrUnexpectedEOF},
		{name: "zero length", input: []byte{0, 0, 0, 0, 1}, is: ErrEmptyFrame},
		{name: "too large", input: []byte{0, 0x10, 0, 1}, is: ErrFrameTooLarge},
		// ReadFrame delimits; judging the content is Unmarshal's job.
		{name: "unknown kind is still a frame", input: frame(99, `x`), want: frame(99, `x`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(tt.input))
			if tt.is != nil {
				if err != tt.is && !errors.Is(err, tt.is) {
					t.Fatalf("error %v, want %v", err, tt.is)
				}
				if tt.is == io.EOF && err != io.EOF {
					t.Fatalf("error %v is wrapped; a clean end must be io.EOF itself", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzUnmarshal: no input panics, and whatever decodes encodes again to a
// frame that decodes to the same value.
func FuzzUnmarshal(f *testing.F) {
	for _, tt := range messages {
		f.Add(tt.bytes)
	}
	for _, tt := range badFrames {
		f.Add(tt.bytes)
	}
	// Inputs Marshal never makes but a decoder must take back exactly.
	for _, body := range []string{
		`{"Time":"2025-01-01T00:00:00.123+05:30","CPUPercent":-0,"Streams":[]}`,
		`{"Time":"0000-01-01T00:00:00-23:59","Streams":null}`,
		` {"version":"a\u00e9\ud800","slot":-1} `,
		`null`,
	} {
		f.Add(frame(KindLoad, body))
		f.Add(frame(KindHello, body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Unmarshal(data)
		if err != nil {
			if m != nil {
				t.Fatalf("Unmarshal returned %#v with error %v", m, err)
			}
			return
		}
		if got, want := m.Kind(), Kind(data[headerLen]); got != want {
			t.Fatalf("frame of kind %s decoded as %s", want, got)
		}
		again, err := Marshal(m)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", m, err)
		}
		m2, err := Unmarshal(again)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", again, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the message:\n%#v\n%#v", m, m2)
		}
	})
}

// FuzzReadFrame: no input panics, and a frame read is a prefix of the input
// whose length field is its true length, within the cap.
func FuzzReadFrame(f *testing.F) {
	for _, tt := range messages {
		f.Add(tt.bytes)
		f.Add(append(append([]byte{}, tt.bytes...), tt.bytes...))
	}
	for _, tt := range badFrames {
		f.Add(tt.bytes)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		read := 0
		for {
			fr, err := ReadFrame(r)
			if err != nil {
				if fr != nil {
					t.Fatalf("ReadFrame returned %d bytes with error %v", len(fr), err)
				}
				return
			}
			if len(fr) <= headerLen || len(fr) > headerLen+MaxFrame {
				t.Fatalf("frame of %d bytes", len(fr))
			}
			if n := int(binary.BigEndian.Uint32(fr)); n != len(fr)-headerLen {
				t.Fatalf("length field %d, frame body %d", n, len(fr)-headerLen)
			}
			if !bytes.Equal(fr, data[read:read+len(fr)]) {
				t.Fatalf("frame is not the next bytes of the input")
			}
			read += len(fr)
			_, _ = Unmarshal(fr) // must not panic either
		}
	})
}
