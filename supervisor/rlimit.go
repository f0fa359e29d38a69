package supervisor

import (
	"fmt"
	"log/slog"

	"golang.org/x/sys/unix"

	"streamedge/configs"
)

// fdsPerWorkerOverhead is what a worker holds besides its sessions: its
// listeners, the IPC and relay sockets, relays to other workers, log file,
// the Go runtime's epoll and pipes. Generous, since running out is worse.
const fdsPerWorkerOverhead = 64

// raiseFileLimit sets the soft RLIMIT_NOFILE to the hard limit. Workers
// inherit it across fork and exec, so this one call covers them all: every
// player is a descriptor, and distributions' default soft limit (1024) is a
// few hundred players short of one core's worth.
func raiseFileLimit() (soft, hard uint64, err error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); err != nil {
			return lim.Cur, lim.Max, err
		}
		lim = raised
	}
	return lim.Cur, lim.Max, nil
}

// fileLimitShortfall says what the configured caps need that the limit
// does not give, or "" when they fit (SRS checks max_connections against
// ulimit -n in the same spirit). Without a cap, nothing can be promised.
func fileLimitShortfall(b configs.Balance, limit uint64) string {
	if b.MaxConnections > 0 {
		if need := uint64(b.MaxConnections + fdsPerWorkerOverhead); need > limit {
			return fmt.Sprintf("balance.max_connections %d needs about %d file descriptors per worker, the limit is %d: raise LimitNOFILE / ulimit -n or lower the cap",
				b.MaxConnections, need, limit)
		}
	}
	return ""
}

// setFileLimit raises the limit and logs the figure, warning when the
// caps the config asks for cannot fit in it.
func setFileLimit(log *slog.Logger, cfg *configs.Config) {
	soft, hard, err := raiseFileLimit()
	if err != nil {
		log.Warn("could not raise the open file limit", "soft", soft, "hard", hard, "err", err)
	}
	if msg := fileLimitShortfall(cfg.Balance, soft); msg != "" {
		log.Warn("open file limit below what the caps need", "limit", soft, "detail", msg)
		return
	}
	log.Info("open file limit", "limit", soft)
}
