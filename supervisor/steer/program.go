package steer

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Random is the selector of the programs attached to groups: a uniformly
// random uint32 per connection (SKF_AD_RANDOM).
var Random bpf.Instruction = bpf.LoadExtension{Num: bpf.ExtRand}

// maxMembers keeps a program (two instructions per member) under the
// kernel's BPF_MAXINSNS of 4096.
const maxMembers = 2000

// maxWeight keeps 2^32 times the total weight within a uint64.
const maxWeight = 1 << 20

// Program builds the weighted jump table: it loads a uint32 with sel and
// returns member i with probability weights[i] / sum(weights). Members of
// weight 0 are never returned. With every weight 0 it returns an index past
// the end, which makes the kernel fall back to its hash.
//
// The thresholds are ceil(2^32 * cumulative / total), so the program picks
// exactly what Pick does for every selector value.
func Program(weights []int, sel bpf.Instruction) ([]bpf.Instruction, error) {
	if len(weights) > maxMembers {
		return nil, fmt.Errorf("steer: %d members, at most %d", len(weights), maxMembers)
	}
	var total uint64
	last := -1
	for i, w := range weights {
		if w < 0 || w > maxWeight {
			return nil, fmt.Errorf("steer: weight %d out of 0..%d", w, maxWeight)
		}
		total += uint64(w)
		if w > 0 {
			last = i
		}
	}
	prog := []bpf.Instruction{sel}
	if last < 0 {
		return append(prog, bpf.RetConstant{Val: uint32(len(weights))}), nil
	}
	var cum uint64
	for i, w := range weights[:last] {
		if w == 0 {
			continue
		}
		cum += uint64(w)
		threshold := uint32(((cum << 32) + total - 1) / total)
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpLessThan, Val: threshold, SkipTrue: 0, SkipFalse: 1},
			bpf.RetConstant{Val: uint32(i)})
	}
	return append(prog, bpf.RetConstant{Val: uint32(last)}), nil
}

// Pick is the reference the program is tested against: selector r scaled
// onto [0, total) lands in member i's stretch of the cumulative weights.
// -1 when every weight is 0.
func Pick(weights []int, r uint32) int {
	var total uint64
	for _, w := range weights {
		total += uint64(w)
	}
	if total == 0 {
		return -1
	}
	scaled := uint64(r) * total >> 32
	var cum uint64
	for i, w := range weights {
		cum += uint64(w)
		if scaled < cum {
			return i
		}
	}
	return len(weights) - 1
}
