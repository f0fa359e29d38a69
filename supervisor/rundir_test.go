package supervisor

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestRunDirRemovesOnlyDeadMastersDirectories(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	base := runBase()
	// A pid that was alive and is not any more.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(base, runDirPrefix+strconv.Itoa(gone.Process.Pid))
	alive := filepath.Join(base, runDirPrefix+strconv.Itoa(os.Getppid()))
	other := filepath.Join(base, "not-a-master")
	for _, d := range []string{dead, alive, other} {
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := makeRunDir(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(base, runDirPrefix+strconv.Itoa(os.Getpid())); dir != want {
		t.Fatalf("run directory %s, want %s", dir, want)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("a dead master's directory is still there (%v)", err)
	}
	for _, d := range []string{alive, other, dir} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}
