//go:build cgo && !notranscode

package transcode

/*
#cgo pkg-config: libavcodec libavutil libswresample
#include <stdlib.h>
#include "pipe.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

const built = true

type cpipe struct{ p *C.se_pipe }

func codecC(c Codec) C.int {
	switch c {
	case AAC:
		return C.SE_AAC
	case Opus:
		return C.SE_OPUS
	}
	return C.SE_PCM
}

func openPipe(p Params) (pipe, error) {
	var extra *C.uint8_t
	if len(p.Config) > 0 {
		extra = (*C.uint8_t)(C.CBytes(p.Config))
		defer C.free(unsafe.Pointer(extra))
	}
	var cerr C.int
	cp := C.se_open(codecC(p.From), extra, C.int(len(p.Config)), C.int(p.InRate), C.int(p.InChannels),
		codecC(p.To), C.int(p.OutRate), C.int(p.OutChannels), C.int(p.Bitrate), &cerr)
	if cp == nil {
		return nil, fmt.Errorf("transcode: open %v to %v: %w", p.From, p.To, averror(cerr))
	}
	return &cpipe{p: cp}, nil
}

func (c *cpipe) send(data []byte) (int, error) {
	if len(data) == 0 {
		return 0, fmt.Errorf("empty packet")
	}
	ret := C.se_send(c.p, (*C.uint8_t)(unsafe.Pointer(&data[0])), C.int(len(data)))
	if ret < 0 {
		return 0, averror(ret)
	}
	return int(ret), nil
}

func (c *cpipe) recv() ([]byte, int, error) {
	var data *C.uint8_t
	var n, samples C.int
	ret := C.se_recv(c.p, &data, &n, &samples)
	if ret < 0 {
		return nil, 0, averror(ret)
	}
	if ret == 0 {
		return nil, 0, nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n)), int(samples), nil
}

func (c *cpipe) config() []byte {
	var data *C.uint8_t
	var n C.int
	C.se_config(c.p, &data, &n)
	if n == 0 {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(data), n)
}

func (c *cpipe) close() { C.se_close(c.p) }

// averror names a libav error code.
type averror C.int

func (e averror) Error() string {
	var buf [128]C.char
	C.av_strerror_wrap(C.int(e), &buf[0], C.int(len(buf)))
	return C.GoString(&buf[0])
}
