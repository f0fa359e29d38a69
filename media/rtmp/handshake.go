package rtmp

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// The handshake, both kinds. The simple one (RTMP spec 5.2) echoes C1 as
// S2; ffmpeg and OBS send it. The digest one (Flash Player 9 and later,
// which every librtmp client such as rtmpdump and GStreamer's rtmpsrc
// speaks) hides an HMAC-SHA256 digest in C1 and expects one in S1 and a
// signature over S2 derived from the client's digest; given a simple answer
// such clients warn ("client signature does not match") or refuse. The keys
// are the protocol's published constants.

const handshakeSize = 1536

var (
	genuineFMSKey = append([]byte("Genuine Adobe Flash Media Server 001"), handshakeKeyTail...)
	genuineFPKey  = append([]byte("Genuine Adobe Flash Player 001"), handshakeKeyTail...)
)

var handshakeKeyTail = []byte{
	0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57,
	0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
}

const (
	fmsKeyLen = 36 // "Genuine Adobe Flash Media Server 001": signs S1
	fpKeyLen  = 30 // "Genuine Adobe Flash Player 001": signs C1
)

// serverVersion is the version S1 announces; a non-zero one tells the
// client that S1 carries a digest.
var serverVersion = [4]byte{0x0d, 0x0e, 0x0a, 0x0d}

// digestOffset is where a handshake packet's digest sits in one of the two
// layouts ("schemas"): four bytes at base give the offset within 728 bytes
// after them.
func digestOffset(p []byte, base int) int {
	sum := int(p[base]) + int(p[base+1]) + int(p[base+2]) + int(p[base+3])
	return sum%728 + base + 4
}

// schemaBases are the two layouts: digest first (base 8) and key first (772).
var schemaBases = [2]int{8, 772}

// packetDigest is the HMAC of a packet without the 32 digest bytes at off.
func packetDigest(p []byte, off int, key []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(p[:off])
	mac.Write(p[off+sha256.Size:])
	return mac.Sum(nil)
}

// findDigest returns the layout and the digest of a signed C1 or S1.
func findDigest(p []byte, key []byte) (base int, digest []byte, ok bool) {
	for _, base := range schemaBases {
		off := digestOffset(p, base)
		if d := packetDigest(p, off, key); hmac.Equal(d, p[off:off+sha256.Size]) {
			return base, p[off : off+sha256.Size], true
		}
	}
	return 0, nil, false
}

// sign puts the packet's digest in place, in the given layout.
func sign(p []byte, base int, key []byte) {
	off := digestOffset(p, base)
	copy(p[off:], packetDigest(p, off, key))
}

// s2Signature is what closes S2 when the client's C1 held digest.
func s2Signature(s2, clientDigest []byte) []byte {
	mac := hmac.New(sha256.New, genuineFMSKey)
	mac.Write(clientDigest)
	key := mac.Sum(nil)
	mac = hmac.New(sha256.New, key)
	mac.Write(s2[:handshakeSize-sha256.Size])
	return mac.Sum(nil)
}

// serverHandshake answers C0+C1 with S0+S1+S2 and reads C2. digest reports
// whether the client used the digest handshake.
func serverHandshake(br *bufio.Reader, w io.Writer) (digest bool, err error) {
	hb := handshakeBufs.Get().(*handshakeBuf)
	defer handshakeBufs.Put(hb) // the packets are written before it returns
	c0c1 := hb.c0c1[:]
	if _, err := io.ReadFull(br, c0c1); err != nil {
		return false, fmt.Errorf("reading C0+C1: %w", err)
	}
	if c0c1[0] != 3 {
		return false, fmt.Errorf("RTMP version %d, want 3", c0c1[0])
	}
	c1 := c0c1[1:]
	out := hb.out[:]
	out[0] = 3
	s1, s2 := out[1:1+handshakeSize], out[1+handshakeSize:]
	if _, err := rand.Read(out[1:]); err != nil {
		return false, err
	}
	binary.BigEndian.PutUint32(s1, uint32(time.Now().UnixMilli()))
	base, clientDigest, digest := 0, []byte(nil), false
	if binary.BigEndian.Uint32(c1[4:]) != 0 { // a version: the client may have signed C1
		base, clientDigest, digest = findDigest(c1, genuineFPKey[:fpKeyLen])
	}
	if digest {
		copy(s1[4:], serverVersion[:])
		sign(s1, base, genuineFMSKey[:fmsKeyLen])
		copy(s2[handshakeSize-sha256.Size:], s2Signature(s2, clientDigest))
	} else {
		clear(s1[4:8]) // version 0: a simple S1
		copy(s2, c1)   // and S2 echoes C1
	}
	if _, err := w.Write(out); err != nil {
		return digest, fmt.Errorf("writing S0+S1+S2: %w", err)
	}
	if _, err := br.Discard(handshakeSize); err != nil {
		return digest, fmt.Errorf("reading C2: %w", err)
	}
	return digest, nil
}
