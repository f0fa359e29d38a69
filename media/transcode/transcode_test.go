package transcode

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestNotBuilt(t *testing.T) {
	if Built() {
		t.Skip("built with the codec library")
	}
	if _, err := New(Params{From: AAC, To: Opus, OutRate: 48000, OutChannels: 2}); err != ErrNotBuilt {
		t.Fatalf("New: %v, want ErrNotBuilt", err)
	}
}

// adtsFrames encodes a 440 Hz tone to AAC with ffmpeg and returns the raw
// frames and the AudioSpecificConfig, as FLV would carry them.
func adtsFrames(t testing.TB, rate, seconds int) (asc []byte, frames [][]byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tone.aac")
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=f=440:r="+itoa(rate)+":d="+itoa(seconds),
		"-ac", "2", "-c:a", "aac", "-f", "adts", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for len(b) >= 7 {
		if b[0] != 0xff || b[1]&0xf0 != 0xf0 {
			t.Fatalf("not ADTS at %d bytes from the end", len(b))
		}
		profile := b[2]>>6 + 1
		freq := b[2] >> 2 & 0x0f
		ch := (b[2]&1)<<2 | b[3]>>6
		n := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
		hdr := 7
		if b[1]&1 == 0 {
			hdr = 9
		}
		if asc == nil {
			asc = binary.BigEndian.AppendUint16(nil, uint16(profile)<<11|uint16(freq)<<7|uint16(ch)<<3)
		}
		frames = append(frames, b[hdr:n])
		b = b[n:]
	}
	return asc, frames
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// rms is the energy of interleaved float32 samples.
func rms(pcm []byte) float64 {
	var sum float64
	n := len(pcm) / 4
	for i := 0; i < n; i++ {
		v := float64(math.Float32frombits(binary.LittleEndian.Uint32(pcm[i*4:])))
		sum += v * v
	}
	if n == 0 {
		return 0
	}
	return math.Sqrt(sum / float64(n))
}

func mustNew(t testing.TB, p Params) *Transcoder {
	t.Helper()
	tc, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	return tc
}

func needBuilt(t testing.TB) {
	if !Built() {
		t.Skip("built without the codec library")
	}
}

// TestRoundTrip takes a tone AAC -> Opus -> AAC -> PCM: at each step the
// audio still has the tone's energy and timestamps advance with the
// samples.
func TestRoundTrip(t *testing.T) {
	needBuilt(t)
	asc, frames := adtsFrames(t, 44100, 2)
	toOpus := mustNew(t, Params{From: AAC, Config: asc, To: Opus, OutRate: 48000, OutChannels: 2})
	var opus []Packet
	for i, f := range frames {
		var err error
		if opus, err = toOpus.Transcode(f, int64(i)*1024*1000/44100, opus); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	// 2 s at 20 ms a packet, less what the resampler and fifo hold back.
	if len(opus) < 90 {
		t.Fatalf("%d Opus packets for 2 s", len(opus))
	}
	for i := 1; i < len(opus); i++ {
		if d := opus[i].MS - opus[i-1].MS; d != 20 {
			t.Fatalf("Opus packet %d is %d ms after the one before", i, d)
		}
	}
	toAAC := mustNew(t, Params{From: Opus, Config: opusHeadForTest(2), To: AAC, OutRate: 48000, OutChannels: 2})
	if cfg := toAAC.Config(); len(cfg) < 2 || cfg[0]>>3 != 2 {
		t.Fatalf("AAC config %x is not AAC-LC", cfg)
	}
	var aac []Packet
	for _, p := range opus {
		var err error
		if aac, err = toAAC.Transcode(p.Data, p.MS, aac); err != nil {
			t.Fatal(err)
		}
	}
	toPCM := mustNew(t, Params{From: AAC, Config: toAAC.Config(), To: PCM, OutRate: 48000, OutChannels: 2})
	var pcm []byte
	for _, p := range aac {
		out, err := toPCM.Transcode(p.Data, p.MS, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			pcm = append(pcm, o.Data...)
		}
	}
	// A full-scale-ish sine from lavfi has an RMS of about 0.088 (amplitude 1/8).
	if e := rms(pcm); e < 0.04 {
		t.Fatalf("decoded audio RMS %.4f: the tone is lost", e)
	}
	if secs := float64(len(pcm)/8) / 48000; secs < 1.7 {
		t.Fatalf("%.2f s of audio out of 2 s", secs)
	}
}

func opusHeadForTest(ch int) []byte {
	b := []byte("OpusHead")
	b = append(b, 1, byte(ch))
	b = binary.LittleEndian.AppendUint16(b, 312)
	b = binary.LittleEndian.AppendUint32(b, 48000)
	b = binary.LittleEndian.AppendUint16(b, 0)
	return append(b, 0)
}

// TestGarbageDropped feeds the decoder what is not AAC: each packet is
// dropped with an error, and good audio after it still comes through.
func TestGarbageDropped(t *testing.T) {
	needBuilt(t)
	asc, frames := adtsFrames(t, 48000, 1)
	tc := mustNew(t, Params{From: AAC, Config: asc, To: Opus, OutRate: 48000, OutChannels: 2})
	junk := [][]byte{{0xff}, make([]byte, 5000), []byte("not aac at all, not at all")}
	for _, j := range junk {
		tc.Transcode(j, 0, nil)
	}
	var out []Packet
	for i, f := range frames {
		out, _ = tc.Transcode(f, int64(i)*1024*1000/48000, out)
	}
	if len(out) < 40 {
		t.Fatalf("%d packets after garbage", len(out))
	}
	if _, err := tc.Transcode(nil, 0, nil); err == nil {
		t.Fatal("an empty packet was accepted")
	}
}

func TestOpenCount(t *testing.T) {
	needBuilt(t)
	before := Open()
	tc, err := New(Params{From: Opus, Config: opusHeadForTest(2), To: AAC, OutRate: 48000, OutChannels: 2})
	if err != nil {
		t.Fatal(err)
	}
	if Open() != before+1 {
		t.Fatalf("Open %d after New, want %d", Open(), before+1)
	}
	tc.Close()
	tc.Close()
	if Open() != before {
		t.Fatalf("Open %d after Close, want %d", Open(), before)
	}
}

// BenchmarkAACToOpus is the cost of one stream's transcoder: one
// iteration is one second of 44.1 kHz stereo AAC, so ns/op / 1e9 is the
// share of a core it takes.
func BenchmarkAACToOpus(b *testing.B) {
	needBuilt(b)
	asc, frames := adtsFrames(b, 44100, 1)
	tc := mustNew(b, Params{From: AAC, Config: asc, To: Opus, OutRate: 48000, OutChannels: 2})
	var out []Packet
	ms := int64(0)
	for b.Loop() {
		for _, f := range frames {
			out, _ = tc.Transcode(f, ms, out[:0])
			ms += 23
		}
	}
}
