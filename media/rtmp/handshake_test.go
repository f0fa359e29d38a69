package rtmp

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"testing"
)

// A librtmp-style client signs C1 in either layout and checks S1's digest
// and S2's signature; a simple client gets C1 back as S2.
func TestServerHandshake(t *testing.T) {
	for _, tt := range []struct {
		name   string
		base   int // layout of the client's digest; -1: a simple C1
		digest bool
	}{
		{"digest first, as librtmp", schemaBases[0], true},
		{"key first", schemaBases[1], true},
		{"simple, as ffmpeg", -1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cli, srv := net.Pipe()
			defer cli.Close()
			res := make(chan error, 1)
			go func() {
				digest, err := serverHandshake(bufio.NewReader(srv), srv)
				if err == nil && digest != tt.digest {
					err = io.ErrUnexpectedEOF
				}
				res <- err
				srv.Close()
			}()
			c1 := make([]byte, handshakeSize)
			rand.Read(c1)
			copy(c1[4:], []byte{0x80, 0, 7, 2})
			if tt.base < 0 {
				clear(c1[4:8])
			} else {
				sign(c1, tt.base, genuineFPKey[:fpKeyLen])
			}
			go func() { cli.Write(append([]byte{3}, c1...)) }()
			s := make([]byte, 1+2*handshakeSize)
			if _, err := io.ReadFull(cli, s); err != nil {
				t.Fatal(err)
			}
			s1, s2 := s[1:1+handshakeSize], s[1+handshakeSize:]
			if tt.base < 0 {
				if !bytes.Equal(s2, c1) {
					t.Fatal("simple handshake: S2 is not C1")
				}
			} else {
				base, _, ok := findDigest(s1, genuineFMSKey[:fmsKeyLen])
				if !ok || base != tt.base {
					t.Fatalf("S1 digest: found %v in layout %d, want layout %d", ok, base, tt.base)
				}
				off := digestOffset(c1, tt.base)
				mac := hmac.New(sha256.New, genuineFMSKey)
				mac.Write(c1[off : off+sha256.Size])
				mac = hmac.New(sha256.New, mac.Sum(nil))
				mac.Write(s2[:handshakeSize-sha256.Size])
				if !hmac.Equal(mac.Sum(nil), s2[handshakeSize-sha256.Size:]) {
					t.Fatal("S2 signature does not match the client's digest")
				}
			}
			cli.Write(make([]byte, handshakeSize)) // C2
			if err := <-res; err != nil {
				t.Fatal(err)
			}
		})
	}
}
