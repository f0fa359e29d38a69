package amf

import (
	"errors"
	"reflect"
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
			got, err := Decode(Append(nil, tt.in...))
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
			if _, err := Decode(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Append(nil, "connect", 1, []Property{{"app", "live"}, {"tcUrl", "rtmp://127.0.0.1/live"}}))
	f.Add(Append(nil, "onMetaData", Object{"width": 320.0, "height": 240.0, "encoder": "Lavf"}))
	f.Add(Append(nil, []any{1.0, []any{"a", nil}}))
	f.Add([]byte{markerECMAArray, 0, 0, 0, 1, 0, 1, 'k', markerBoolean, 1, 0, 0, markerObjectEnd})
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes must encode and decode to the same values.
		again, err := Decode(Append(nil, vals...))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again) != len(vals) {
			t.Fatalf("re-decode gave %d values, want %d", len(again), len(vals))
		}
	})
}
