package mediatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// defaultProbeTimeout applies when the context has no deadline, so a stream
// that never sends data cannot hang a test until the global test timeout.
const defaultProbeTimeout = 15 * time.Second

// ProbeStream is one stream as reported by ffprobe.
type ProbeStream struct {
	CodecType string `json:"codec_type"` // "video", "audio", "data"
	CodecName string `json:"codec_name"` // "h264", "aac", ...
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// ProbeResult is the outcome of FFprobe. Err is set when ffprobe failed, ran
// out of time, or found no streams; Output holds ffprobe's stderr followed by
// its stdout, for failure messages.
type ProbeResult struct {
	Streams []ProbeStream
	// Tags are the container's tags: for FLV, what ffmpeg read from the
	// onMetaData it took as the file's metadata.
	Tags   map[string]string
	Err    error
	Output string
}

// Stream returns the first stream of the given codec type ("video" or
// "audio").
func (r ProbeResult) Stream(codecType string) (ProbeStream, bool) {
	for _, s := range r.Streams {
		if s.CodecType == codecType {
			return s, true
		}
	}
	return ProbeStream{}, false
}

// FFprobe runs ffprobe on url (a file path or a network URL) and returns the
// streams it found. It never fails the test itself, and is safe to call from
// any goroutine: callers assert on the result, which lets tests expect
// failures too.
//
// The context deadline (or 15s without one) bounds the whole run, and is
// also passed to ffprobe as its I/O timeout so it gives up cleanly, with an
// error message, instead of being killed.
func FFprobe(t testing.TB, ctx context.Context, url string) ProbeResult {
	t.Helper()
	if err := lookTools(); err != nil {
		return ProbeResult{Err: err}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultProbeTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()

	args := []string{"-v", "error", "-show_streams", "-show_format", "-of", "json"}
	if strings.Contains(url, "://") {
		// rw_timeout is a generic URL option honoured by every protocol,
		// unlike "timeout", which means a listen timeout for rtmp and so
		// would turn the probe into a server.
		// Leave ffprobe a margin before the context kills it, so the
		// result carries its own message rather than just "killed".
		remaining := time.Until(deadline)
		remaining -= min(remaining/5, time.Second)
		args = append(args, "-rw_timeout", strconv.FormatInt(max(remaining.Microseconds(), 1000), 10))
	}
	args = append(args, url)

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffprobe", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Without this, an orphaned grandchild holding the pipes would keep
	// Wait blocked past the deadline.
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()

	res := ProbeResult{Output: stderr.String() + stdout.String()}
	switch {
	case ctx.Err() != nil:
		res.Err = fmt.Errorf("ffprobe %s: %w (%v)", url, ctx.Err(), runErr)
		return res
	case runErr != nil:
		res.Err = fmt.Errorf("ffprobe %s: %w: %s", url, runErr, strings.TrimSpace(stderr.String()))
		return res
	}
	var parsed struct {
		Streams []ProbeStream `json:"streams"`
		Format  struct {
			Tags map[string]string `json:"tags"`
		} `json:"format"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &parsed); err != nil {
		res.Err = fmt.Errorf("ffprobe %s: parsing output: %w", url, err)
		return res
	}
	res.Streams, res.Tags = parsed.Streams, parsed.Format.Tags
	if len(res.Streams) == 0 {
		res.Err = errors.New("ffprobe " + url + ": no streams found")
	}
	return res
}
