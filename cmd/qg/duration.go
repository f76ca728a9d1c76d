package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseDuration parses a Go duration ("90s", "1h30m", "-5m") with an
// optional leading "+", or a whole number of days ("30d").
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimPrefix(s, "+")
	if days, ok := strings.CutSuffix(t, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < -106_000 || n > 106_000 { // time.Duration holds ±292 years
			return 0, fmt.Errorf("bad duration %q: want a whole number of days like 30d, or a Go duration like 1h30m", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: want a Go duration like 90s, 5m, 1h30m, or days like 30d", s)
	}
	return d, nil
}

// runAt is a --run-at value: a time, or a delay from the server's clock.
type runAt struct {
	at       time.Time     // the time, when not relative
	delay    time.Duration // the delay from now(), when relative
	relative bool
}

// parseRunAt parses --run-at: an RFC 3339 time (2030-01-02T15:04:05Z,
// 2030-01-02T15:04:05+02:00) or a duration from now (+5m, 90s, 2d, -1h).
// The empty string is now.
func parseRunAt(s string) (runAt, error) {
	if s == "" {
		return runAt{relative: true}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if t.IsZero() { // the library would read it as now
			return runAt{}, fmt.Errorf("bad --run-at %q: that is Go's zero time, which qg reads as now; leave --run-at out for now", s)
		}
		return runAt{at: t}, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return runAt{}, fmt.Errorf("bad --run-at %q: want an RFC 3339 time like 2030-01-02T15:04:05Z or a duration from now like +5m", s)
	}
	return runAt{delay: d, relative: true}, nil
}
