//go:build !race

package main

// raceEnabled reports whether the tests run with the race detector: the
// command they build then has it too.
const raceEnabled = false
