package steer

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"streamedge/supervisor/balance"
)

// probeConns is how many connections the probe sends; all must land where
// the program says.
const probeConns = 8

// Probe finds the strongest tier this kernel gives sockets made by open
// (the master's own way of opening its groups), on a throwaway group on
// loopback: a cBPF program that sends every connection to the second of
// two sockets, then a pause and resume of the first. It returns the tier
// and, for the log, why.
func Probe(open func(addr string, n int) ([]*net.TCPListener, error)) (balance.Tier, string) {
	if open == nil {
		open = ListenGroup
	}
	lns, err := open("127.0.0.1:0", 2)
	if err != nil {
		return balance.TierOff, fmt.Sprintf("cannot open a probe group: %v", err)
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	g := NewGroup("probe")
	for i, ln := range lns {
		if err := g.Add(i, ln); err != nil {
			return balance.TierOff, err.Error()
		}
	}
	cbpfErr := probeCBPF(g, lns)
	if err := g.Detach(); err != nil && cbpfErr == nil {
		cbpfErr = err
	}
	pauseErr := probePause(g)
	switch {
	case cbpfErr == nil:
		return balance.TierCBPF, fmt.Sprintf("a cBPF program on a probe group steered %d of %d connections as asked", probeConns, probeConns)
	case pauseErr == nil:
		return balance.TierPause, fmt.Sprintf("cBPF steering unavailable (%v); a slot can leave the group and rejoin", cbpfErr)
	}
	return balance.TierOff, fmt.Sprintf("cBPF steering unavailable (%v), and so is pausing a slot (%v)", cbpfErr, pauseErr)
}

func probeCBPF(g *Group, lns []*net.TCPListener) error {
	if err := g.Attach(map[int]int{1: 1}); err != nil {
		return err
	}
	addr := lns[0].Addr().String()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range probeConns {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return fmt.Errorf("probe connect: %w", err)
		}
		conns = append(conns, c)
	}
	// Every dialled connection is on one of the two queues, or about to be:
	// wait for all of them, and count where they were.
	deadline := time.Now().Add(2 * time.Second)
	got := make([]int, 2)
	var mu sync.Mutex
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i, ln := range lns {
		ln.SetDeadline(deadline)
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
				mu.Lock()
				got[i]++
				if got[0]+got[1] == probeConns {
					close(done)
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
	}
	for _, ln := range lns {
		ln.SetDeadline(time.Now())
	}
	wg.Wait()
	for _, ln := range lns {
		ln.SetDeadline(time.Time{})
	}
	if got[1] != probeConns {
		return fmt.Errorf("program attached, but %d of %d probe connections went elsewhere", probeConns-got[1], probeConns)
	}
	return nil
}

func probePause(g *Group) error {
	if err := g.Pause(0); err != nil {
		return err
	}
	if err := g.Resume(0); err != nil {
		return err
	}
	if g.Paused(0) {
		return errors.New("slot still paused after resume")
	}
	return nil
}
