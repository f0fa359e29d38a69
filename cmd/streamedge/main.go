// Command streamedge is a live-streaming edge server: RTMP publish and play,
// HTTP-FLV play, one master process and N worker processes. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"streamedge/configs"
	"streamedge/supervisor"
	"streamedge/worker"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "bench":
			return runBench(args[1:], stdout, stderr)
		case "worker":
			return runWorker(args[1:], stderr)
		}
	}
	fs := flag.NewFlagSet("streamedge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "config `file` (default: the embedded default config)")
	testOnly := fs.Bool("t", false, "test the config and exit")
	showVersion := fs.Bool("v", false, "print the version and exit")
	fs.BoolVar(showVersion, "version", false, "same as -v")
	workers := fs.Int("w", -1, "worker processes (0 = one per CPU; default: the config's `workers`)")
	fs.IntVar(workers, "workers", -1, "same as -w")
	fs.Usage = func() { usage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// A typo such as `streamedge stop` must not start a second server.
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "streamedge: unknown command or argument %q\n", fs.Arg(0))
		usage(stderr)
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "streamedge", version)
		return 0
	}
	cfg, name, err := loadConfig(*cfgPath)
	if err == nil && *testOnly {
		err = checkLogFile(cfg.Log.File)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		if *testOnly {
			fmt.Fprintf(stderr, "streamedge: configuration %s test failed\n", name)
		}
		return 1
	}
	if *testOnly {
		fmt.Fprintf(stdout, "streamedge: configuration %s test is successful\n", name)
		return 0
	}
	log, logOut, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer logOut.Close()
	opts := supervisor.Options{Config: cfg, ConfigPath: *cfgPath, Workers: *workers,
		Version: version, Log: log, SetLogLevel: logOut.SetLevel, ReopenLogs: logOut.Reopen}
	if err := serve(opts); err != nil {
		log.Error("streamedge stopped", "err", err)
		return 1
	}
	return 0
}

// usage is -h: the modes, the flags and the signals the master obeys.
func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  streamedge [-c FILE] [-w N]    serve: a master and N worker processes
  streamedge -t [-c FILE]        test the config as a reload would, print every error, exit 0 or 1
  streamedge -v | --version      print the version
  streamedge bench MODE ...      the load generator: publish, play, scenario (streamedge bench -h)

flags:
  -c FILE              config file (default: the embedded default config)
  -t                   test the config and exit
  -v, --version        print the version and exit
  -w, --workers N      worker processes, 0 = one per CPU (default: the config's workers)

signals (to the master):
  HUP         reload the config; a bad one is logged and changes nothing
  QUIT        graceful quit: grace_start_wait, then drain for up to grace_final_wait
  TERM, INT   fast quit (TERM is graceful with force_grace_quit)
  USR1        reopen the log file
`)
}

// loadConfig reads the config file, or the embedded default, as a reload
// does (configs.Load), and names it for -t's verdict.
func loadConfig(path string) (*configs.Config, string, error) {
	if path == "" {
		return configs.Default(), "(embedded default)", nil
	}
	cfg, err := configs.Load(path)
	return cfg, path, err
}

// serve runs the master until a signal says quit. Signals are nginx's: HUP
// reload, QUIT graceful quit, TERM/INT fast quit, USR1 reopen logs.
func serve(opts supervisor.Options) error {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	opts.Signals = sigs
	m, err := supervisor.New(opts)
	if err != nil {
		return err
	}
	rtmpAddr, httpAddr, apiAddr := m.Addrs()
	opts.Log.Info("streamedge started", "version", version, "pid", os.Getpid(), "workers", m.Workers(),
		"rtmp", rtmpAddr, "http", httpAddr, "api", apiAddr)
	err = m.Run(context.Background())
	opts.Log.Info("streamedge stopped")
	return err
}

// runWorker is the hidden `streamedge worker` mode the master re-executes.
func runWorker(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("streamedge worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slot := fs.Int("slot", -1, "worker slot (set by the master)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Ctrl-C reaches the whole process group; the master decides how its
	// workers stop, so a worker leaves SIGINT to it.
	signal.Ignore(syscall.SIGINT)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	err := worker.RunProcess(ctx, worker.Process{
		Slot: *slot, Version: version,
		NewLogger: func(c configs.Log) (*slog.Logger, worker.LogOutput, error) {
			return newLogger(c, stderr)
		},
	})
	if err != nil {
		fmt.Fprintf(stderr, "streamedge worker %d: %v\n", *slot, err)
		return 1
	}
	return 0
}
