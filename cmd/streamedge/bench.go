package main

import (
	"io"

	"streamedge/bench"
)

// runBench is `streamedge bench`: the load generator. Its commands and flags
// live in package bench, next to what they configure.
func runBench(args []string, stdout, stderr io.Writer) int {
	return bench.Main(args, stdout, stderr)
}
