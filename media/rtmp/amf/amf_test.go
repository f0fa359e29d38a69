package amf

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   []any
		want []any
	}{
		{"command", []any{"connect", 1, []Property{{"app", "live"}, {"tcUrl", "rtmp://h/live"}}},
			[]any{"connect", 1.0, Object{"app": "live", "tcUrl": "rtmp://h/live"}}},
		{"scalars", []any{true, false, nil, 3.5, ""}, []any{true, false, nil, 3.5, ""}},
		{"nested", []any{Object{"a": Object{"b": []any{1.0, "x"}}}}, []any{Object{"a": Object{"b": []any{1.0, "x"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(Append(nil, tt.in...), CommandLimits)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	deep := []byte{}
	for range maxDepth + 2 {
		deep = append(deep, markerStrictArray, 0, 0, 0, 1)
	}
	deep = append(deep, markerNull)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"truncated number", []byte{markerNumber, 1, 2}, ErrTruncated},
		{"string longer than input", []byte{markerString, 0, 9, 'a'}, ErrTruncated},
		{"huge array claim", []byte{markerStrictArray, 0x7f, 0xff, 0xff, 0xff, markerNull}, ErrTruncated},
		{"object without end", []byte{markerObject, 0, 1, 'a', markerNull}, ErrTruncated},
		{"unknown marker", []byte{0x42}, ErrUnsupported},
		{"too deep", deep, ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.in, CommandLimits); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestBudget is the memory bomb of one connect: values cheap on the wire
// and dear in memory are refused before the memory is taken.
func TestBudget(t *testing.T) {
	u32 := func(n int) []byte { return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} }
	nulls := func(n int) []byte { // a strict array of n nulls: 1 byte each on the wire
		b := append([]byte{markerStrictArray}, u32(n)...)
		return append(b, bytes.Repeat([]byte{markerNull}, n)...)
	}
	emptyObjects := func(n int) []byte { // n empty objects: 4 bytes each
		b := append([]byte{markerStrictArray}, u32(n)...)
		return append(b, bytes.Repeat([]byte{markerObject, 0, 0, markerObjectEnd}, n)...)
	}
	long := append([]byte{markerLongString}, u32(5000)...)
	long = append(long, bytes.Repeat([]byte{'a'}, 5000)...)
	connect := Append(nil, "connect", 1, []Property{{"app", "live"}, {"flashVer", "FMLE/3.0 (compatible; FMSc/1.0)"},
		{"tcUrl", "rtmp://127.0.0.1:1935/live?vhost=some.host.example"}, {"fpad", false}, {"capabilities", 15.0},
		{"audioCodecs", 4071.0}, {"videoCodecs", 252.0}, {"videoFunction", 1.0}, {"type", "nonprivate"}})
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"a real connect", connect, nil},
		{"a 1 MiB tcUrl-like string", append(append([]byte{markerLongString}, u32(1<<20)...), make([]byte, 1<<20)...), ErrLongString},
		{"a string just over the limit", long, ErrLongString},
		{"64 Ki nulls", nulls(64 << 10), ErrTooLarge},
		{"16 Ki empty objects", emptyObjects(16 << 10), ErrTooLarge},
		{"4 Ki nulls", nulls(4 << 10), ErrTooLarge},
		{"1 Ki nulls", nulls(1 << 10), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in, CommandLimits)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestBudgetBoundsAllocation measures what a refused bomb costs: far less
// than the payload's claimed values, not 16 bytes each.
func TestBudgetBoundsAllocation(t *testing.T) {
	bomb := append([]byte{markerStrictArray, 0x00, 0xf0, 0, 0}, bytes.Repeat([]byte{markerNull}, 0xf00000)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(bomb, CommandLimits)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Fatalf("a refused 15 Mi-null array allocated %d bytes, want under the 64 KiB budget", n)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Append(nil, "connect", 1, []Property{{"app", "live"}, {"tcUrl", "rtmp://127.0.0.1/live"}}))
	f.Add(Append(nil, "onMetaData", Object{"width": 320.0, "height": 240.0, "encoder": "Lavf"}))
	f.Add(Append(nil, []any{1.0, []any{"a", nil}}))
	f.Add([]byte{markerECMAArray, 0, 0, 0, 1, 0, 1, 'k', markerBoolean, 1, 0, 0, markerObjectEnd})
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := Decode(b, CommandLimits)
		if err != nil {
			return
		}
		// What decodes must encode and decode to the same values.
		again, err := Decode(Append(nil, vals...), CommandLimits)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again) != len(vals) {
			t.Fatalf("re-decode gave %d values, want %d", len(again), len(vals))
		}
	})
}
