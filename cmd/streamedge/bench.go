package main

import (
	"fmt"
	"io"
)

// runBench is `streamedge bench`: the load generator (package bench).
func runBench(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "streamedge bench: not built yet")
	return 2
}
