// Command streamedge is a live-streaming edge server: RTMP publish and play,
// HTTP-FLV play. See README.md for its flags and configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"streamedge/configs"
	"streamedge/worker"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "bench" {
		return runBench(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("streamedge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "config `file` (default: the embedded default config)")
	testOnly := fs.Bool("t", false, "test the config and exit")
	showVersion := fs.Bool("v", false, "print the version and exit")
	workers := fs.Int("w", -1, "worker processes (0 = one per CPU; default: the config's `workers`)")
	fs.IntVar(workers, "workers", -1, "same as -w")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "streamedge", version)
		return 0
	}
	cfg, name, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if *testOnly {
			fmt.Fprintf(stderr, "streamedge: configuration %s test failed\n", name)
		}
		return 1
	}
	if *workers >= 0 {
		cfg.Workers = *workers
	}
	if *testOnly {
		fmt.Fprintf(stdout, "streamedge: configuration %s test is successful\n", name)
		return 0
	}
	log, closeLog, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer closeLog()
	if err := serve(cfg, log); err != nil {
		log.Error("streamedge stopped", "err", err)
		return 1
	}
	return 0
}

func loadConfig(path string) (*configs.Config, string, error) {
	if path == "" {
		return configs.Default(), "(embedded default)", nil
	}
	cfg, err := configs.Load(path)
	return cfg, path, err
}

// newLogger builds the slog logger the config asks for.
func newLogger(c configs.Log, stderr io.Writer) (*slog.Logger, func(), error) {
	out, closeOut := stderr, func() {}
	if c.File != "" {
		f, err := os.OpenFile(c.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("log file: %w", err)
		}
		out, closeOut = f, func() { f.Close() }
	}
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	var h slog.Handler = slog.NewTextHandler(out, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(out, opts)
	}
	return slog.New(h), closeOut, nil
}

// serve runs one process with the listen addresses of cfg until SIGINT or
// SIGTERM.
func serve(cfg *configs.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var ls worker.Listeners
	var err error
	if ls.RTMP, err = net.Listen("tcp", cfg.Listen.RTMP); err != nil {
		return fmt.Errorf("listen rtmp: %w", err)
	}
	if ls.HTTP, err = net.Listen("tcp", cfg.Listen.HTTP); err != nil {
		ls.RTMP.Close()
		return fmt.Errorf("listen http: %w", err)
	}
	log.Info("streamedge started", "version", version, "pid", os.Getpid(),
		"rtmp", ls.RTMP.Addr().String(), "http", ls.HTTP.Addr().String())
	err = worker.New(cfg, log).Run(ctx, ls)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("streamedge stopped")
	return err
}
