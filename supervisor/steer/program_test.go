package steer

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/net/bpf"
)

// The VM has no SKF_AD_RANDOM, so the tests give the program an ordinary
// load of the packet's first four bytes and feed it the selector there.
var packetWord bpf.Instruction = bpf.LoadAbsolute{Off: 0, Size: 4}

func runVM(t *testing.T, vm *bpf.VM, r uint32) int {
	t.Helper()
	var pkt [4]byte
	binary.BigEndian.PutUint32(pkt[:], r)
	got, err := vm.Run(pkt[:])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestProgramMatchesPick(t *testing.T) {
	for _, weights := range [][]int{
		{1},
		{0, 1},
		{1, 0},
		{50, 50},
		{5, 95},
		{0, 30, 0, 70},
		{1, 1, 1},
		{33, 33, 34, 0, 0},
		{100, 1, 0, 7, 0, 12, 99, 3},
		{1 << 20, 1},
	} {
		prog, err := Program(weights, packetWord)
		if err != nil {
			t.Fatal(err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("%v: %v", weights, err)
		}
		const n = 100_000
		counts := make([]int, len(weights))
		rng := rand.New(rand.NewPCG(1, uint64(len(weights))))
		selectors := []uint32{0, 1, math.MaxUint32, math.MaxUint32 - 1, 1 << 31}
		for range n {
			selectors = append(selectors, rng.Uint32())
		}
		for _, r := range selectors {
			got, want := runVM(t, vm, r), Pick(weights, r)
			if got != want {
				t.Fatalf("%v: selector %#x: program says %d, Pick %d", weights, r, got, want)
			}
			counts[got]++
		}
		total := 0
		for _, w := range weights {
			total += w
		}
		for i, w := range weights {
			share, want := float64(counts[i])/float64(len(selectors)), float64(w)/float64(total)
			if math.Abs(share-want) > 0.01 {
				t.Errorf("%v: member %d got %.4f of the selectors, weight says %.4f", weights, i, share, want)
			}
			if w == 0 && counts[i] > 0 {
				t.Errorf("%v: member %d of weight 0 picked %d times", weights, i, counts[i])
			}
		}
	}
}

// Thresholds sit exactly where the reference switches members.
func TestProgramBoundaries(t *testing.T) {
	weights := []int{1, 2, 1}
	prog, err := Program(weights, packetWord)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []uint32{1<<30 - 1, 1 << 30, 3<<30 - 1, 3 << 30} {
		if got, want := runVM(t, vm, r), Pick(weights, r); got != want {
			t.Errorf("selector %#x: program %d, Pick %d", r, got, want)
		}
	}
	if Pick(weights, 1<<30-1) != 0 || Pick(weights, 1<<30) != 1 || Pick(weights, 3<<30) != 2 {
		t.Errorf("Pick puts the boundaries in the wrong place")
	}
}

func TestProgramAllZeroFallsBackToHash(t *testing.T) {
	prog, err := Program([]int{0, 0, 0}, packetWord)
	if err != nil {
		t.Fatal(err)
	}
	vm, _ := bpf.NewVM(prog)
	if got := runVM(t, vm, 12345); got != 3 {
		t.Errorf("all-zero program returns %d, want 3 (past the end: the kernel's hash)", got)
	}
}

func TestProgramRefuses(t *testing.T) {
	for _, weights := range [][]int{{-1}, {maxWeight + 1}, make([]int, maxMembers+1)} {
		if _, err := Program(weights, packetWord); err == nil {
			t.Errorf("Program(%d weights) accepted", len(weights))
		}
	}
}

// The production program assembles, and stays under BPF_MAXINSNS.
func TestProgramAssembles(t *testing.T) {
	w := make([]int, maxMembers)
	for i := range w {
		w[i] = 1
	}
	prog, err := Program(w, Random)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > 4096 {
		t.Errorf("%d instructions, the kernel takes 4096", len(raw))
	}
}
