package webrtc

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/pion/logging"
)

// pionLogs routes pion's logging into slog. pion logs per packet at every
// level up to warn (a malformed STUN message from a scanner, a write to a
// peer that has gone), so everything goes to debug, and warnings and errors
// are also counted: Server.Run summarises the counts instead of a line per
// packet.
type pionLogs struct {
	log      *slog.Logger
	warnings *atomic.Uint64
}

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{log: f.log.With("pion", scope), warnings: f.warnings}
}

type pionLogger struct {
	log      *slog.Logger
	warnings *atomic.Uint64
}

var _ logging.LeveledLogger = (*pionLogger)(nil)

// maxPionMessage bounds what a peer can make us log.
const maxPionMessage = 300

func (l *pionLogger) emit(msg string) {
	if !l.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	if len(msg) > maxPionMessage {
		msg = msg[:maxPionMessage] + "..."
	}
	l.log.Debug("pion", "msg", msg)
}

func (l *pionLogger) Trace(string)                 {}
func (l *pionLogger) Tracef(string, ...any)        {}
func (l *pionLogger) Debug(msg string)             { l.emit(msg) }
func (l *pionLogger) Debugf(f string, args ...any) { l.emitf(f, args) }
func (l *pionLogger) Info(msg string)              { l.emit(msg) }
func (l *pionLogger) Infof(f string, args ...any)  { l.emitf(f, args) }
func (l *pionLogger) Warn(msg string)              { l.warnings.Add(1); l.emit(msg) }
func (l *pionLogger) Warnf(f string, args ...any)  { l.warnings.Add(1); l.emitf(f, args) }
func (l *pionLogger) Error(msg string)             { l.warnings.Add(1); l.emit(msg) }
func (l *pionLogger) Errorf(f string, args ...any) { l.warnings.Add(1); l.emitf(f, args) }

func (l *pionLogger) emitf(format string, args []any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.emit(fmt.Sprintf(format, args...))
	}
}
