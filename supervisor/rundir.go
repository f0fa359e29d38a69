package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The run directory holds the workers' private relay sockets. Each master
// has its own, named for its pid, under one base, so a master killed with
// -9 leaves one directory that the next master to start removes.

// runBase is where the masters' run directories go: $XDG_RUNTIME_DIR or
// /run when writable (tmpfs, cleared at boot), else the temp directory.
func runBase() string {
	for _, dir := range []string{os.Getenv("XDG_RUNTIME_DIR"), "/run"} {
		if dir != "" && syscall.Access(dir, 2 /* W_OK */) == nil {
			return filepath.Join(dir, "streamedge")
		}
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("streamedge-%d", os.Getuid()))
}

const runDirPrefix = "master-"

// makeRunDir removes the run directories of masters that are gone and
// makes this one's.
func makeRunDir(log *slog.Logger) (string, error) {
	base := runBase()
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", fmt.Errorf("run directory: %w", err)
	}
	removeStale(base, log)
	dir := filepath.Join(base, runDirPrefix+strconv.Itoa(os.Getpid()))
	os.RemoveAll(dir) // a pid reused after a crash
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("run directory: %w", err)
	}
	return dir, nil
}

// removeStale removes the directories under base of masters whose process
// is gone. A pid that is alive is left alone, even if it was reused: a
// directory too many costs nothing.
func removeStale(base string, log *slog.Logger) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), runDirPrefix))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), runDirPrefix) || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			if err := os.RemoveAll(filepath.Join(base, e.Name())); err == nil {
				log.Info("removed the run directory of a master that is gone", "dir", filepath.Join(base, e.Name()))
			}
		}
	}
}
