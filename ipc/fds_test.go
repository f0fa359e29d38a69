package ipc

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseFDs(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]int
		err  string // in the error; "" for success
	}{
		{in: "ipc=3,rtmp=4,http=5", want: map[string]int{"ipc": 3, "rtmp": 4, "http": 5}},
		{in: "ipc=3", want: map[string]int{"ipc": 3}},
		{in: "", want: map[string]int{}},
		{in: "http=9,ipc=3", want: map[string]int{"http": 9, "ipc": 3}},
		{in: "rtc.udp-0:a_B=2147483647", want: map[string]int{"rtc.udp-0:a_B": 1<<31 - 1}},

		{in: "ipc", err: `entry "ipc" is not name=fd`},
		{in: "ipc=3,", err: `entry "" is not name=fd`},
		{in: ",ipc=3", err: `entry "" is not name=fd`},
		{in: "=3", err: "empty name"},
		{in: "ipc=", err: `fd "" is not`},
		{in: "ipc=x", err: `fd "x" is not`},
		{in: "ipc=3x", err: `fd "3x" is not`},
		{in: "ipc=-3", err: `fd "-3" is not`},
		{in: "ipc=+3", err: `fd "+3" is not`},
		{in: "ipc=03", err: `fd "03" is not`},
		{in: "ipc=0", err: `fd "0" is not`},
		{in: "ipc=2", err: "fd 2 is stdin, stdout or stderr"},
		{in: "ipc=2147483648", err: "out of range"},
		{in: "ipc=99999999999999999999", err: "out of range"},
		{in: "ipc=3=4", err: `fd "3=4" is not`},
		{in: "ipc = 3", err: "only letters, digits"},
		{in: "ipc=3, rtmp=4", err: "only letters, digits"},
		{in: "rtmp=4,rtmp=5", err: `name "rtmp" given twice`},
		{in: "rtmp=4,http=4", err: `fd 4 named both "rtmp" and "http"`},
		{in: "ïpc=3", err: "only letters, digits"},
		{in: "ipc=3;rtmp=4", err: `fd "3;rtmp=4" is not`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFDs(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseFDs(%q) = %v, %v; want error with %q", tt.in, got, err, tt.err)
				}
				if !strings.Contains(err.Error(), EnvFDs) {
					t.Errorf("error %q does not name %s", err, EnvFDs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ParseFDs(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormatFDs(t *testing.T) {
	tests := []struct {
		names []string
		first int
		want  string
	}{
		{[]string{"ipc", "rtmp", "http"}, 3, "ipc=3,rtmp=4,http=5"},
		{[]string{"ipc"}, 3, "ipc=3"},
		{[]string{"ipc", "rtmp"}, 10, "ipc=10,rtmp=11"},
		{nil, 3, ""},
	}
	for _, tt := range tests {
		got := FormatFDs(tt.names, tt.first)
		if got != tt.want {
			t.Errorf("FormatFDs(%q, %d) = %q, want %q", tt.names, tt.first, got, tt.want)
		}
		parsed, err := ParseFDs(got)
		if err != nil {
			t.Fatalf("ParseFDs(FormatFDs(%q)) = %v", tt.names, err)
		}
		if len(parsed) != len(tt.names) {
			t.Errorf("round trip of %q: %v", tt.names, parsed)
		}
		for i, name := range tt.names {
			if parsed[name] != tt.first+i {
				t.Errorf("round trip of %q: %s=%d, want %d", tt.names, name, parsed[name], tt.first+i)
			}
		}
	}
}

func TestFormatFDsPanicsOnBadNames(t *testing.T) {
	for _, names := range [][]string{{""}, {"a,b"}, {"a=b"}, {"ipc", "ipc"}, {"with space"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("FormatFDs(%q) did not panic", names)
				}
			}()
			FormatFDs(names, 3)
		}()
	}
}

// FuzzParseFDs: no input panics, and what parses is valid and reads the
// same when written back out.
func FuzzParseFDs(f *testing.F) {
	for _, s := range []string{"ipc=3,rtmp=4,http=5", "", "ipc=", "a=3,a=4", "a=3,b=3", "x=2147483648", "ipc=03"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fds, err := ParseFDs(s)
		if err != nil {
			return
		}
		seen := map[int]bool{}
		for name, fd := range fds {
			if checkName(name) != nil || fd < firstInherited || seen[fd] {
				t.Fatalf("ParseFDs(%q) accepted %s=%d", s, name, fd)
			}
			seen[fd] = true
		}
		names := slices.Sorted(maps.Keys(fds))
		parts := make([]string, len(names))
		for i, name := range names {
			parts[i] = name + "=" + strconv.Itoa(fds[name])
		}
		again, err := ParseFDs(strings.Join(parts, ","))
		if err != nil || !maps.Equal(again, fds) {
			t.Fatalf("ParseFDs(%q) = %v; written back: %v, %v", s, fds, again, err)
		}
	})
}

func closeOnExec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("fd %d: %v", fd, err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

func TestInheritedFilesErrors(t *testing.T) {
	// A descriptor number certainly not open in this process.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	closed := int(min(lim.Cur, 1<<20)) - 1
	tests := []struct {
		name string
		env  *string
		err  string
	}{
		{"unset", nil, "not started by the streamedge master"},
		{"empty", ptr(""), "not started by the streamedge master"},
		{"malformed", ptr("ipc:3"), `entry "ipc:3" is not name=fd`},
		{"not open", ptr(fmt.Sprintf("ipc=%d", closed)), fmt.Sprintf("fd %d (ipc) is not open", closed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvFDs, "")
			if tt.env == nil {
				os.Unsetenv(EnvFDs)
			} else {
				os.Setenv(EnvFDs, *tt.env)
			}
			files, err := InheritedFiles()
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("InheritedFiles() = %v, %v; want error with %q", files, err, tt.err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestInheritedFiles adopts a descriptor as a worker would one the master
// left open across exec: by name, and made close-on-exec.
func TestInheritedFiles(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd, err := unix.Dup(int(r.Fd())) // inheritable, like a dup2 by exec
	if err != nil {
		t.Fatal(err)
	}
	if closeOnExec(t, fd) {
		t.Fatal("dup already set close-on-exec; the test proves nothing")
	}
	t.Setenv(EnvFDs, fmt.Sprintf("note=%d", fd))
	files, err := InheritedFiles()
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	f := files["note"]
	defer f.Close()
	if len(files) != 1 || f == nil || f.Name() != "note" || int(f.Fd()) != fd {
		t.Fatalf("InheritedFiles() = %v", files)
	}
	if !closeOnExec(t, fd) {
		t.Error("inherited fd is not close-on-exec")
	}
	w.Write([]byte("by name"))
	w.Close()
	if got, _ := io.ReadAll(f); string(got) != "by name" {
		t.Errorf("read %q through the inherited file", got)
	}
}
