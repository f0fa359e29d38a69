package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

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
