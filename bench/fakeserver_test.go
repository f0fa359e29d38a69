package bench

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"streamedge/media/flv"
)

// pacedFLVServer serves the synthetic stream over HTTP-FLV with a chosen
// pace per stream: /live/0.flv in real time, /live/1.flv at half speed (a
// server that cannot keep up), /live/2.flv in real time but with a 1.5 s
// pause after the first second.
func pacedFLVServer(t *testing.T, bitrate float64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/live/"), ".flv")
		pace := map[string]func(ts uint32) time.Duration{
			"0": func(ts uint32) time.Duration { return time.Duration(ts) * time.Millisecond },
			"1": func(ts uint32) time.Duration { return 2 * time.Duration(ts) * time.Millisecond },
			"2": func(ts uint32) time.Duration { return time.Duration(ts)*time.Millisecond + pauseAfter(ts) },
			"3": func(ts uint32) time.Duration { return time.Duration(ts) * time.Millisecond },
		}[name]
		if pace == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "video/x-flv")
		w.Write(flv.AppendFileHeader(nil, true, true))
		src := newSynthetic(bitrate)
		start := time.Now()
		var hdr [flv.TagHeaderSize]byte
		var trailer [flv.TagTrailerSize]byte
		for {
			tag := src.next()
			if name == "3" && tag.Timestamp >= 1000 {
				return
			}
			select {
			case <-time.After(time.Until(start.Add(pace(tag.Timestamp)))):
			case <-r.Context().Done():
				return
			}
			flv.PutTagHeader(hdr[:], tag.Type, tag.Timestamp, len(tag.Data))
			flv.PutTagTrailer(trailer[:], len(tag.Data))
			w.Write(hdr[:])
			w.Write(tag.Data)
			if _, err := w.Write(trailer[:]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func pauseAfter(ts uint32) time.Duration {
	if ts >= 1000 {
		return 1500 * time.Millisecond
	}
	return 0
}
