package mediatest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// FPS is the frame rate of every generated file.
const FPS = 25

// Media describes a generated test file. Zero fields take the defaults:
// 320x240, 10s, one keyframe per second.
type Media struct {
	Width, Height int
	Duration      time.Duration
	GOP           time.Duration // keyframe interval
}

func (m Media) withDefaults() Media {
	if m.Width == 0 {
		m.Width = 320
	}
	if m.Height == 0 {
		m.Height = 240
	}
	if m.Duration == 0 {
		m.Duration = 10 * time.Second
	}
	if m.GOP == 0 {
		m.GOP = time.Second
	}
	return m
}

// GOPFrames is the keyframe interval in frames.
func (m Media) GOPFrames() int {
	return max(1, int(m.withDefaults().GOP*FPS/time.Second))
}

// recipeVersion is part of every cache file name. Bump it whenever the
// ffmpeg arguments change, or tests will keep using stale files.
const recipeVersion = "v1"

func (m Media) fileName() string {
	return fmt.Sprintf("%s-%dx%d-%dms-gop%d.flv", recipeVersion,
		m.Width, m.Height, m.Duration.Milliseconds(), m.GOPFrames())
}

// genLocks serialises generation of the same file within one test binary;
// across binaries the atomic rename makes duplicate work harmless.
var genLocks sync.Map // file path -> *sync.Mutex

// FLVFile returns the path of an H.264/AAC FLV file matching m, generating
// it with ffmpeg on first use. Files are cached under
// os.TempDir()/streamedge-mediatest and shared by every test and test binary.
//
// Video is testsrc2 at 25 fps, x264 baseline, ultrafast/zerolatency, ~300
// kbit/s, with a fixed keyframe interval and no scene-cut keyframes, so tests
// can rely on keyframe timing. Audio is a 44.1 kHz mono AAC sine at 64 kbit/s.
func FLVFile(t testing.TB, m Media) string {
	t.Helper()
	RequireFFmpeg(t)
	m = m.withDefaults()
	if m.Width%2 != 0 || m.Height%2 != 0 || m.Width < 16 || m.Height < 16 {
		t.Fatalf("mediatest: unsupported size %dx%d: 4:2:0 H.264 needs even dimensions of at least 16", m.Width, m.Height)
	}
	if m.Duration < 0 || m.GOP < 0 {
		t.Fatalf("mediatest: negative duration or GOP in %+v", m)
	}

	dir := filepath.Join(os.TempDir(), "streamedge-mediatest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("mediatest: %v", err)
	}
	path := filepath.Join(dir, m.fileName())

	mu, _ := genLocks.LoadOrStore(path, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return path
	}
	if err := generateFLV(m, dir, path); err != nil {
		t.Fatalf("mediatest: generating %s: %v", path, err)
	}
	return path
}

func generateFLV(m Media, dir, path string) error {
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName) // no-op after a successful rename

	gop := strconv.Itoa(m.GOPFrames())
	args := []string{
		"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", m.Width, m.Height, FPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.FormatFloat(m.Duration.Seconds(), 'f', -1, 64),
		"-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-b:v", "300k", "-maxrate", "300k", "-bufsize", "600k",
		"-c:a", "aac", "-ar", "44100", "-ac", "1", "-b:a", "64k",
		"-f", "flv", tmpName,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s\nargs: %q", err, bytes.TrimSpace(stderr.Bytes()), args)
	}
	// CreateTemp makes the file private; the cache is shared with test
	// binaries run by other users too.
	if err := os.Chmod(tmpName, 0o644); err != nil {
		return err
	}
	return os.Rename(tmpName, path)
}
