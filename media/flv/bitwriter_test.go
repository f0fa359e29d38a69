package flv

import "testing"

func TestNALEscapes(t *testing.T) {
	tests := []struct{ rbsp, want []byte }{
		{[]byte{1, 2, 3}, []byte{1, 2, 3}},
		{[]byte{0, 0, 1}, []byte{0, 0, 3, 1}},
		{[]byte{0, 0, 0, 0}, []byte{0, 0, 3, 0, 0}},
		{[]byte{0, 0, 0, 0, 0}, []byte{0, 0, 3, 0, 0, 3, 0}},
		{[]byte{0, 0, 4}, []byte{0, 0, 4}},
		{[]byte{0, 0, 3}, []byte{0, 0, 3, 3}},
	}
	for _, tt := range tests {
		w := BitWriter{b: append([]byte(nil), tt.rbsp...), bits: 8 * len(tt.rbsp)}
		got := w.NAL(0x67)
		// After the header: the escaped bytes, then the stop bit's byte.
		if want := append(append([]byte{0x67}, tt.want...), 0x80); string(got) != string(want) {
			t.Errorf("NAL of % x = % x, want % x", tt.rbsp, got, want)
		}
	}
}

func TestExpGolomb(t *testing.T) {
	var w BitWriter
	for _, v := range []uint32{0, 1, 2, 3, 79} {
		w.UE(v)
	}
	w.SE(-2) // codes as ue(4): 00101
	// 1 010 011 00100 0000001010000 00101
	want := "101001100100000000101000000101"
	var got []byte
	for i := range w.bits {
		got = append(got, '0'+(w.b[i/8]>>(7-i%8))&1)
	}
	if string(got) != want {
		t.Errorf("bits %s, want %s", got, want)
	}
}
