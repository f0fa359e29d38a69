package handoff

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func sampleStates() []*State {
	flv := &State{Protocol: HTTPFLV, Stream: "__defaultVhost__/live/s", From: "worker 1", Since: 1700000000e9, Stopped: 1700000001e9,
		Skew: 1<<32 - 40, HasAudio: true, HasVideo: true, BytesSent: 123456,
		Last: [numTracks]Mark{{TS: 1000, Same: 1, Seen: true}, {TS: 1010, Same: 2, Seen: true}, {TS: 0, Same: 1, Seen: true}}}
	rtmp := &State{Protocol: RTMP, Stream: "v/app/sub/s", Unparsed: []byte{0xc3, 1, 2},
		Hook: &Hook{ClientID: "7", IP: "127.0.0.1", Vhost: "v", App: "app/sub", Stream: "s", Param: "token=x", TcURL: "rtmp://h/app/sub"},
		RTMP: &RTMPState{Vhost: "v", App: "app/sub", OutChunkSize: 60000, StreamID: 1, NextStreamID: 2, PeerWindow: 2500000,
			LastAck: 5000000, InChunkSize: 4096, BytesRead: 5000123,
			In: []ChunkStream{{CSID: 3, Timestamp: 7, Delta: 7, Length: 30, TypeID: 20, Started: true},
				{CSID: 400, Timestamp: 1 << 30, Length: 10, TypeID: 4, Extended: true, Started: true, HasBuf: true, Partial: []byte{0, 6, 1}}}}}
	return []*State{flv, rtmp}
}

func TestStateRoundTrip(t *testing.T) {
	for _, s := range sampleStates() {
		b, err := Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%v: %v", s.Protocol, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
		}
	}
}

func TestStateRefusals(t *testing.T) {
	good, _ := Marshal(sampleStates()[1])
	big := *sampleStates()[0]
	big.Unparsed = make([]byte, MaxState)
	if _, err := Marshal(&big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("marshal of an oversized state: %v, want ErrTooLarge", err)
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"no magic", append([]byte("XYZ"), good[3:]...), ErrCorrupt},
		{"future version", append(append([]byte{}, good[:3]...), append([]byte{version + 1}, good[4:]...)...), ErrVersion},
		{"truncated", good[:len(good)-2], ErrCorrupt},
		{"trailing", append(append([]byte{}, good...), 0), ErrCorrupt},
		{"unknown protocol", append(append([]byte{}, good[:4]...), append([]byte{9}, good[5:]...)...), ErrCorrupt},
		{"rtmp state on flv", append(append([]byte{}, good[:4]...), append([]byte{byte(HTTPFLV)}, good[5:]...)...), ErrCorrupt},
		{"too large", make([]byte, MaxState+1), ErrTooLarge},
	}
	for _, tt := range tests {
		if _, err := Unmarshal(tt.b); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

// FuzzUnmarshal: any input is refused with an error or decodes to a state
// that encodes back to the same bytes; never a panic, never a huge allocation.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range sampleStates() {
		b, _ := Marshal(s)
		f.Add(b)
	}
	f.Add([]byte("SEH\x01\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Unmarshal(b)
		if err != nil {
			return
		}
		again, err := Marshal(s)
		if err != nil {
			t.Fatalf("decoded state does not encode: %v", err)
		}
		s2, err := Unmarshal(again)
		if err != nil || !reflect.DeepEqual(s, s2) {
			t.Fatalf("re-encoded state differs: %v", err)
		}
		if !bytes.Equal(again[:5], b[:5]) {
			t.Fatalf("header changed")
		}
	})
}

func TestResumeSkipsWhatTheClientHas(t *testing.T) {
	var pos Position
	type m struct {
		typ uint8
		ts  uint32
	}
	stream := []m{{18, 0}, {9, 0}, {8, 0}, {9, 0}, {8, 0}, {8, 23}, {9, 40}, {8, 46}, {9, 80}, {8, 69}, {9, 80}, {8, 92}, {9, 120}, {8, 115}}
	cut := 10 // the sender wrote stream[:cut]
	for _, x := range stream[:cut] {
		pos.Wrote(x.typ, x.ts)
	}
	// The receiver starts at the GOP (index 3: a keyframe at 0) with the
	// headers first, as a hub primes a new subscriber.
	replay := append([]m{{18, 0}, {9, 0}, {8, 0}}, stream[3:]...)
	r := NewResume(pos.Last)
	var got []m
	for _, x := range replay {
		if r.Keep(x.typ, x.ts) {
			got = append(got, x)
		}
	}
	if want := stream[cut:]; !reflect.DeepEqual(got, want) {
		t.Fatalf("resumed with %v, want %v", got, want)
	}
	// A receiver whose cache starts after the mark: first message after it.
	r = NewResume(pos.Last)
	if !r.Keep(9, 400) || r.Gap != 320e6 {
		t.Fatalf("a later keyframe is kept with a gap of 320ms: gap %v", r.Gap)
	}
	if r.Keep(8, 69) || !r.Keep(8, 70) {
		t.Fatal("audio at or before its mark must go, after it must stay")
	}
}
