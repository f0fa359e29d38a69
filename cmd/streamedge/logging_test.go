package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckLogFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path, wantErr string
	}{
		{"stderr", "", ""},
		{"existing file", file, ""},
		{"new file in existing dir", filepath.Join(dir, "a.log"), ""},
		{"new dirs to make", filepath.Join(dir, "x", "y", "a.log"), ""},
		{"path is a directory", dir, "is a directory"},
		{"a parent is a file", filepath.Join(file, "sub", "a.log"), "is not a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkLogFile(c.path)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("checkLogFile(%q) = %v, want error containing %q", c.path, err, c.wantErr)
			}
		})
	}
	// The check creates nothing.
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Fatalf("checkLogFile made a directory: %v", err)
	}
}

// The server makes the log's directory, as -t promised it could.
func TestLogFileMakesItsDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x", "y", "a.log")
	l := &logFile{path: path}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "hello\n" {
		t.Fatalf("log file holds %q", b)
	}
}
