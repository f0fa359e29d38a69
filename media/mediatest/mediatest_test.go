package mediatest_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"streamedge/media/mediatest"
)

func TestFLVFile(t *testing.T) {
	tests := []struct {
		name          string
		media         mediatest.Media
		width, height int
		maxBytes      int64
	}{
		{name: "defaults", media: mediatest.Media{}, width: 320, height: 240, maxBytes: 1 << 20},
		// 426 is not a multiple of 16, so the SPS must carry cropping.
		{name: "cropped", media: mediatest.Media{Width: 426, Height: 240, Duration: 2 * time.Second, GOP: 500 * time.Millisecond}, width: 426, height: 240, maxBytes: 256 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := mediatest.FLVFile(t, tt.media)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() > tt.maxBytes {
				t.Errorf("file is %d bytes, want at most %d", fi.Size(), tt.maxBytes)
			}
			if got := filepath.Base(filepath.Dir(path)); got != "streamedge-mediatest" {
				t.Errorf("cached in %q, want streamedge-mediatest", got)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res := mediatest.FFprobe(t, ctx, path)
			if res.Err != nil {
				t.Fatalf("ffprobe: %v\n%s", res.Err, res.Output)
			}
			v, ok := res.Stream("video")
			if !ok || v.CodecName != "h264" || v.Width != tt.width || v.Height != tt.height {
				t.Errorf("video stream = %+v (found %v), want h264 %dx%d", v, ok, tt.width, tt.height)
			}
			if a, ok := res.Stream("audio"); !ok || a.CodecName != "aac" {
				t.Errorf("audio stream = %+v (found %v), want aac", a, ok)
			}

			// A second call must reuse the cached file, not regenerate it.
			if again := mediatest.FLVFile(t, tt.media); again != path {
				t.Errorf("second call returned %q, want %q", again, path)
			}
			fi2, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !fi2.ModTime().Equal(fi.ModTime()) {
				t.Errorf("file was rewritten on second call")
			}
		})
	}
}

func TestFFprobeFailures(t *testing.T) {
	silent := mediatest.SilentServer(t)

	tests := []struct {
		name    string
		url     string
		timeout time.Duration
	}{
		{name: "missing file", url: filepath.Join(t.TempDir(), "nope.flv"), timeout: 10 * time.Second},
		{name: "not media", url: writeFile(t, "junk.flv", []byte("this is not a media file")), timeout: 10 * time.Second},
		{name: "silent server", url: "tcp://" + silent, timeout: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			res := mediatest.FFprobe(t, ctx, tt.url)
			if res.Err == nil {
				t.Fatalf("FFprobe succeeded with %+v, want error", res.Streams)
			}
			if took := time.Since(start); took > tt.timeout+2*time.Second {
				t.Errorf("FFprobe took %v, deadline was %v", took, tt.timeout)
			}
			t.Logf("err: %v", res.Err)
		})
	}
}

func TestStartFFmpegPublish(t *testing.T) {
	file := mediatest.FLVFile(t, mediatest.Media{Duration: 2 * time.Second})
	ctx := context.Background()

	t.Run("runs to completion", func(t *testing.T) {
		ln := listen(t)
		p := mediatest.StartFFmpegPublish(t, ctx, file, "tcp://"+ln.Addr().String(), false)
		got := readAll(t, ln)
		waitDone(t, p, 10*time.Second)
		if err := p.Err(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, p.Stderr())
		}
		if !bytes.HasPrefix(got, []byte("FLV")) || len(got) < 10<<10 {
			t.Errorf("received %d bytes starting %q, want an FLV stream", len(got), got[:min(len(got), 3)])
		}
	})

	t.Run("stop ends a loop", func(t *testing.T) {
		ln := listen(t)
		p := mediatest.StartFFmpegPublish(t, ctx, file, "tcp://"+ln.Addr().String(), true)
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go io.Copy(io.Discard, c)
		time.Sleep(500 * time.Millisecond)
		select {
		case <-p.Done():
			t.Fatalf("looping publisher exited early: %v\n%s", p.Err(), p.Stderr())
		default:
		}
		start := time.Now()
		p.Stop()
		if took := time.Since(start); took > 4*time.Second {
			t.Errorf("Stop took %v", took)
		}
		p.Stop() // idempotent
	})

	t.Run("failure is reported", func(t *testing.T) {
		ln := listen(t)
		addr := ln.Addr().String()
		ln.Close() // nothing listens, so the connection is refused
		p := mediatest.StartFFmpegPublish(t, ctx, file, "tcp://"+addr, false)
		waitDone(t, p, 10*time.Second)
		if p.Err() == nil {
			t.Fatal("ffmpeg succeeded publishing to a closed port")
		}
		if p.Stderr() == "" {
			t.Error("stderr was not captured")
		}
	})
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func readAll(t *testing.T, ln net.Listener) []byte {
	t.Helper()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func waitDone(t *testing.T, p *mediatest.Proc, d time.Duration) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(d):
		t.Fatalf("ffmpeg still running after %v\n%s", d, p.Stderr())
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNginxRTMPOrigin(t *testing.T) {
	mediatest.RequireFFmpeg(t)
	n := mediatest.StartNginxRTMP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	file := mediatest.FLVFile(t, mediatest.Media{})
	mediatest.StartFFmpegPublish(t, ctx, file, "rtmp://"+n.RTMP+"/live/s", true)
	for {
		clients, err := n.Clients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if clients["s"] == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nginx never listed the publisher: %v", clients)
		case <-time.After(100 * time.Millisecond):
		}
	}
	res := mediatest.FFprobe(t, ctx, "rtmp://"+n.RTMP+"/live/s")
	if _, ok := res.Stream("video"); !ok {
		t.Fatalf("ffprobe through nginx-rtmp found no video: %+v", res)
	}
}
