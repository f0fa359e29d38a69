package steer

import (
	"net"
	"testing"
	"time"
)

// BenchmarkAccept is connect+accept+close on a group of two sockets, with
// the kernel's hash and with the weighted program attached: the program's
// cost per connection (the goal: at least 0.95x the rate).
func BenchmarkAccept(b *testing.B) {
	for _, withProgram := range []bool{false, true} {
		name := "hash"
		if withProgram {
			name = "cbpf"
		}
		b.Run(name, func(b *testing.B) {
			lns, err := ListenGroup("127.0.0.1:0", 2)
			if err != nil {
				b.Fatal(err)
			}
			g := NewGroup("bench")
			for i, ln := range lns {
				defer ln.Close()
				g.Add(i, ln)
			}
			if withProgram {
				if err := g.Attach(map[int]int{0: 60, 1: 40}); err != nil {
					b.Fatal(err)
				}
			}
			accepted := make(chan struct{}, 1024)
			for _, ln := range lns {
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						c.Close()
						accepted <- struct{}{}
					}
				}()
			}
			addr := lns[0].Addr().String()
			b.ResetTimer()
			for range b.N {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				<-accepted
				c.Close()
			}
		})
	}
}

// BenchmarkAcceptInterleaved dials a group with the kernel's hash and one
// with the program in turn, so that a busy machine's drift hits both
// alike, and reports the program's accept rate as a fraction of the
// hash's (rate_ratio; the goal is at least 0.95).
func BenchmarkAcceptInterleaved(b *testing.B) {
	type grp struct {
		addr     string
		accepted chan struct{}
		spent    time.Duration
	}
	open := func(withProgram bool) *grp {
		lns, err := ListenGroup("127.0.0.1:0", 2)
		if err != nil {
			b.Fatal(err)
		}
		g := NewGroup("bench")
		gr := &grp{addr: lns[0].Addr().String(), accepted: make(chan struct{}, 1024)}
		for i, ln := range lns {
			b.Cleanup(func() { ln.Close() })
			g.Add(i, ln)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
					gr.accepted <- struct{}{}
				}
			}()
		}
		if withProgram {
			if err := g.Attach(map[int]int{0: 60, 1: 40}); err != nil {
				b.Fatal(err)
			}
		}
		return gr
	}
	hash, prog := open(false), open(true)
	b.ResetTimer()
	for i := range b.N {
		gr := hash
		if i%2 == 1 {
			gr = prog
		}
		start := time.Now()
		c, err := net.Dial("tcp", gr.addr)
		if err != nil {
			b.Fatal(err)
		}
		<-gr.accepted
		gr.spent += time.Since(start)
		c.Close()
	}
	if prog.spent > 0 {
		b.ReportMetric(float64(hash.spent)/float64(prog.spent), "rate_ratio")
	}
}

// BenchmarkProgram is building and assembling a 64-slot program, what
// every re-attach costs the master before the setsockopt.
func BenchmarkProgram(b *testing.B) {
	w := make([]int, 64)
	for i := range w {
		w[i] = i + 1
	}
	for range b.N {
		if _, err := Program(w, Random); err != nil {
			b.Fatal(err)
		}
	}
}
