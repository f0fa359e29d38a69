// Package mediatest provides ffmpeg-backed helpers for tests: generating
// sample FLV files, probing streams with ffprobe and publishing with ffmpeg.
//
// It exists for _test.go files only; non-test code must not import it.
// Missing tools make tests fail rather than skip, so a CI machine without
// ffmpeg cannot silently pass the media tests.
package mediatest

import (
	"errors"
	"os/exec"
	"testing"
)

const missingFFmpeg = "ffmpeg not found: run `make test` (it installs ffmpeg) or apt-get install -y ffmpeg"

// RequireFFmpeg fails the test unless both ffmpeg and ffprobe are on PATH.
func RequireFFmpeg(t testing.TB) {
	t.Helper()
	if err := lookTools(); err != nil {
		t.Fatal(err)
	}
}

// lookTools is RequireFFmpeg without the testing.TB, for helpers that report
// errors instead of failing (and may run off the test goroutine).
func lookTools() error {
	for _, name := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(name); err != nil {
			return errors.New(missingFFmpeg + " (" + err.Error() + ")")
		}
	}
	return nil
}
