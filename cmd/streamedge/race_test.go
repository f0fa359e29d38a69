//go:build race

package main

// raceEnabled tells tests whose timing the race detector's slowdown
// changes past their deadline (see TestSlowPlayerIsSkippedThenDropped).
const raceEnabled = true
