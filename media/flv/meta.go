package flv

import (
	"encoding/binary"
	"strings"
)

// Metadata is what a live server needs from an onMetaData script tag.
type Metadata struct {
	// Live is the tag without duration and filesize: a publisher reading a
	// file sends them, and a player given them shows a fixed length (ffmpeg
	// prints the file's Duration, rtmpdump reports an incomplete download).
	// It is the input itself when there was nothing to remove.
	Live []byte
	// Audio and Video tell which tracks the metadata declares (hasAudio,
	// hasVideo, or an audiocodecid / videocodecid key); Declared is false
	// when it names neither, so the tracks are known only from the media.
	Audio, Video, Declared bool
}

// amfMaxDepth bounds nesting in metadata: real encoders nest one level
// (keyframes index), a hostile one could nest deep enough to hurt.
const amfMaxDepth = 8

// ParseMetadata reads an AMF0 onMetaData body ("onMetaData" then an ECMA
// array or object). ok is false for anything else, or for a body it cannot
// walk; the caller then passes it on untouched. Only the removed properties'
// bytes change: every other byte, key order included, is the publisher's.
func ParseMetadata(body []byte) (md Metadata, ok bool) {
	const name = "\x02\x00\x0aonMetaData"
	md.Live = body
	if len(body) < len(name)+1 || string(body[:len(name)]) != name {
		return md, false
	}
	p := len(name)
	marker := body[p]
	if marker != 0x03 && marker != 0x08 {
		return md, false
	}
	start := p + 1
	if marker == 0x08 {
		start += 4
	}
	var cut [][2]int // property spans to remove
	for q := start; ; {
		if q+3 <= len(body) && body[q] == 0 && body[q+1] == 0 && body[q+2] == 0x09 {
			break
		}
		if q == len(body) && marker == 0x08 {
			break // some muxers end an ECMA array without the end marker
		}
		if q+2 > len(body) {
			return md, false
		}
		klen := int(binary.BigEndian.Uint16(body[q:]))
		if q+2+klen > len(body) {
			return md, false
		}
		key := string(body[q+2 : q+2+klen])
		v := q + 2 + klen
		n, ok := skipAMF0(body[v:], 0)
		if !ok {
			return md, false
		}
		md.note(key, body[v:v+n])
		if key == "duration" || key == "filesize" {
			cut = append(cut, [2]int{q, v + n})
		}
		q = v + n
	}
	if len(cut) > 0 {
		md.Live = removeSpans(body, cut)
		if marker == 0x08 {
			at := len(name) + 1
			count := binary.BigEndian.Uint32(md.Live[at:])
			binary.BigEndian.PutUint32(md.Live[at:], count-min(count, uint32(len(cut))))
		}
	}
	return md, true
}

func (md *Metadata) note(key string, val []byte) {
	truth := len(val) == 2 && val[0] == 0x01 && val[1] != 0
	switch strings.ToLower(key) {
	case "hasaudio":
		md.Audio, md.Declared = md.Audio || truth, true
	case "hasvideo":
		md.Video, md.Declared = md.Video || truth, true
	case "audiocodecid":
		md.Audio, md.Declared = true, true
	case "videocodecid":
		md.Video, md.Declared = true, true
	}
}

func removeSpans(b []byte, spans [][2]int) []byte {
	out := make([]byte, 0, len(b))
	from := 0
	for _, s := range spans {
		out = append(out, b[from:s[0]]...)
		from = s[1]
	}
	return append(out, b[from:]...)
}

// skipAMF0 returns the size of the AMF0 value at the start of b.
func skipAMF0(b []byte, depth int) (int, bool) {
	if len(b) == 0 || depth > amfMaxDepth {
		return 0, false
	}
	need := func(n int) (int, bool) { return n, n <= len(b) }
	u16 := func(at int) int { return int(binary.BigEndian.Uint16(b[at:])) }
	u32 := func(at int) int { return int(binary.BigEndian.Uint32(b[at:])) }
	switch b[0] {
	case 0x00: // number
		return need(9)
	case 0x01: // boolean
		return need(2)
	case 0x02: // string
		if len(b) < 3 {
			return 0, false
		}
		return need(3 + u16(1))
	case 0x05, 0x06, 0x0d: // null, undefined, unsupported
		return 1, true
	case 0x07: // reference
		return need(3)
	case 0x0b: // date
		return need(11)
	case 0x0c, 0x0f: // long string, XML document
		if len(b) < 5 {
			return 0, false
		}
		return need(5 + u32(1))
	case 0x03: // object
		n, ok := skipProps(b[1:], depth)
		return 1 + n, ok
	case 0x10: // typed object: class name, then properties
		if len(b) < 3 || 3+u16(1) > len(b) {
			return 0, false
		}
		at := 3 + u16(1)
		n, ok := skipProps(b[at:], depth)
		return at + n, ok
	case 0x08: // ECMA array
		if len(b) < 5 {
			return 0, false
		}
		n, ok := skipProps(b[5:], depth)
		return 5 + n, ok
	case 0x0a: // strict array
		if len(b) < 5 {
			return 0, false
		}
		at := 5
		for range u32(1) {
			n, ok := skipAMF0(b[at:], depth+1)
			if !ok {
				return 0, false
			}
			at += n
		}
		return at, true
	}
	return 0, false // AMF3 switch and reserved markers
}

// skipProps skips key/value pairs up to and including the end marker.
func skipProps(b []byte, depth int) (int, bool) {
	at := 0
	for {
		if at+3 <= len(b) && b[at] == 0 && b[at+1] == 0 && b[at+2] == 0x09 {
			return at + 3, true
		}
		if at+2 > len(b) {
			return 0, false
		}
		at += 2 + int(binary.BigEndian.Uint16(b[at:]))
		if at > len(b) {
			return 0, false
		}
		n, ok := skipAMF0(b[at:], depth+1)
		if !ok {
			return 0, false
		}
		at += n
	}
}
