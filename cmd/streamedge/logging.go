package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"streamedge/configs"
	"streamedge/worker"
)

// logFile is the log output: stderr, or a file that can be reopened after
// logrotate moved it away (SIGUSR1), while every logger keeps writing to it.
type logFile struct {
	path  string
	level slog.LevelVar // a reload may change it under running loggers
	mu    sync.Mutex
	w     io.Writer
	f     *os.File
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Reopen opens the path anew; the old file is closed once the new one is in.
func (l *logFile) Reopen() error {
	if l.path == "" {
		return nil
	}
	// The directory is made as the file is: a fresh host has no
	// /var/log/streamedge unless `make install` made it.
	if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	l.mu.Lock()
	old := l.f
	l.f, l.w = f, f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// checkLogFile says whether Reopen could open path, without creating
// anything: `-t` must leave no file or directory behind, yet fail where the
// server would.
func checkLogFile(path string) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("log file %s: is a directory", path)
		}
		if err := unix.Access(path, unix.W_OK); err != nil {
			return fmt.Errorf("log file %s: not writable: %w", path, err)
		}
		return nil
	}
	// The nearest ancestor that exists must be a directory we may write
	// in: Reopen makes the rest.
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		switch {
		case err == nil && !fi.IsDir():
			return fmt.Errorf("log file %s: %s is not a directory", path, dir)
		case err == nil:
			if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
				return fmt.Errorf("log file %s: cannot create in %s: %w", path, dir, err)
			}
			return nil
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			if dir == filepath.Dir(dir) {
				return fmt.Errorf("log file %s: %w", path, err)
			}
		default:
			return fmt.Errorf("log file %s: %w", path, err)
		}
	}
}

// SetLevel changes the level of every logger writing here.
func (l *logFile) SetLevel(level slog.Level) { l.level.Set(level) }

func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		return l.f.Close()
	}
	return nil
}

var _ worker.LogOutput = (*logFile)(nil)

// newLogger builds the slog logger the config asks for.
func newLogger(c configs.Log, stderr io.Writer) (*slog.Logger, *logFile, error) {
	out := &logFile{path: c.File, w: stderr}
	if err := out.Reopen(); err != nil {
		return nil, nil, err
	}
	out.level.Set(c.SlogLevel())
	opts := &slog.HandlerOptions{Level: &out.level}
	var h slog.Handler = slog.NewTextHandler(out, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(out, opts)
	}
	return slog.New(h), out, nil
}
