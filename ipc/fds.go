package ipc

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// EnvFDs names the descriptors a worker inherits, as FormatFDs writes them:
// "ipc=3,rtmp=4,http=5".
const EnvFDs = "STREAMEDGE_FDS"

// firstInherited is the lowest descriptor that can be inherited by name:
// 0, 1 and 2 are stdin, stdout and stderr, never sockets of ours.
const firstInherited = 3

// FormatFDs names the files of exec.Cmd.ExtraFiles, which the child sees
// from descriptor first (3) on, in order: FormatFDs([]string{"ipc", "rtmp"},
// 3) is "ipc=3,rtmp=4". The names are the master's constants, so one that
// ParseFDs would refuse (empty, duplicated, or not of letters, digits and
// "_-.:") is a programming error and panics here, in the master, rather
// than in every worker it starts.
func FormatFDs(names []string, first int) string {
	var b strings.Builder
	seen := make(map[string]bool, len(names))
	for i, name := range names {
		if err := checkName(name); err != nil {
			panic("ipc.FormatFDs: " + err.Error())
		}
		if seen[name] {
			panic(fmt.Sprintf("ipc.FormatFDs: name %q given twice", name))
		}
		seen[name] = true
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%d", name, first+i)
	}
	return b.String()
}

// ParseFDs parses a list as FormatFDs writes it into name → descriptor. It
// is strict, because a wrong descriptor here means serving one protocol on
// another's socket: every entry is name=fd with no spaces, fds are decimal,
// at least 3 and distinct (two names for one fd would be two *os.File
// closing it twice), and names are distinct. The empty string is an empty
// map.
func ParseFDs(s string) (map[string]int, error) {
	fds := make(map[string]int)
	if s == "" {
		return fds, nil
	}
	names := make(map[int]string)
	for entry := range strings.SplitSeq(s, ",") {
		name, num, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("ipc: %s: entry %q is not name=fd", EnvFDs, entry)
		}
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("ipc: %s: %w", EnvFDs, err)
		}
		fd, err := parseFD(num)
		if err != nil {
			return nil, fmt.Errorf("ipc: %s: %s: %w", EnvFDs, name, err)
		}
		if _, dup := fds[name]; dup {
			return nil, fmt.Errorf("ipc: %s: name %q given twice", EnvFDs, name)
		}
		if other, dup := names[fd]; dup {
			return nil, fmt.Errorf("ipc: %s: fd %d named both %q and %q", EnvFDs, fd, other, name)
		}
		fds[name], names[fd] = fd, name
	}
	return fds, nil
}

// checkName allows what a listener's name needs and nothing that could
// confuse the list's syntax or a log line.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("_-.:", r)
		if !ok {
			return fmt.Errorf("name %q: only letters, digits and \"_-.:\" are allowed", name)
		}
	}
	return nil
}

// parseFD accepts plain decimal only: no sign, no leading zero, no spaces.
func parseFD(num string) (int, error) {
	if num == "" || num[0] < '1' || num[0] > '9' {
		return 0, fmt.Errorf("fd %q is not a positive decimal number", num)
	}
	for _, r := range num {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("fd %q is not a positive decimal number", num)
		}
	}
	fd, err := strconv.Atoi(num)
	if err != nil || fd > math.MaxInt32 {
		return 0, fmt.Errorf("fd %q is out of range", num)
	}
	if fd < firstInherited {
		return 0, fmt.Errorf("fd %d is stdin, stdout or stderr, not an inherited socket", fd)
	}
	return fd, nil
}

// InheritedFiles returns the files the master passed, by name, from EnvFDs.
// It fails plainly if the process was not started by the master (the
// variable is unset or empty), if the list is malformed, or if a named
// descriptor is not open. Each descriptor is made close-on-exec so it does
// not leak into anything this process runs.
//
// Call it once: each *os.File owns its descriptor and closes it when closed
// or garbage collected, so two calls would hand out two owners of each one.
// Files the caller does not use should be closed.
func InheritedFiles() (map[string]*os.File, error) {
	s := os.Getenv(EnvFDs)
	if s == "" {
		return nil, fmt.Errorf("ipc: %s is not set: this process was not started by the streamedge master", EnvFDs)
	}
	fds, err := ParseFDs(s)
	if err != nil {
		return nil, err
	}
	// Check them all before owning any, so an error leaves nothing half done.
	for name, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("ipc: %s: fd %d (%s) is not open: %w", EnvFDs, fd, name, err)
		}
	}
	files := make(map[string]*os.File, len(fds))
	for name, fd := range fds {
		unix.CloseOnExec(fd)
		files[name] = os.NewFile(uintptr(fd), name)
	}
	return files, nil
}
