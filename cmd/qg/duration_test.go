package main

import (
	"testing"
	"time"
)

func TestParseRunAt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want runAt
	}{
		{"", runAt{relative: true}},
		{"+5m", runAt{delay: 5 * time.Minute, relative: true}},
		{"90s", runAt{delay: 90 * time.Second, relative: true}},
		{"-1h", runAt{delay: -time.Hour, relative: true}},
		{"+2d", runAt{delay: 48 * time.Hour, relative: true}},
		{"2030-01-02T15:04:05Z", runAt{at: time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)}},
		{"2030-01-02T15:04:05.5+02:00", runAt{at: time.Date(2030, 1, 2, 13, 4, 5, 5e8, time.UTC)}},
	}
	for _, c := range cases {
		got, err := parseRunAt(c.in)
		if err != nil || got.relative != c.want.relative || got.delay != c.want.delay || !got.at.Equal(c.want.at) {
			t.Errorf("parseRunAt(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"tomorrow", "5", "2030-01-02", "+", "1.5d", "d", "999999999d"} {
		if got, err := parseRunAt(bad); err == nil {
			t.Errorf("parseRunAt(%q) = %+v, want an error", bad, got)
		}
	}
}

// FuzzParseRunAt checks that any --run-at is parsed or refused, never a
// panic, and that a parsed duration round-trips.
func FuzzParseRunAt(f *testing.F) {
	for _, s := range []string{"+5m", "2d", "-1h30m", "2030-01-02T15:04:05Z", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRunAt(s)
		if err != nil || !r.relative || r.delay == 0 {
			return
		}
		if again, err := parseDuration(r.delay.String()); err != nil || again != r.delay {
			t.Errorf("%q: %v does not round-trip: %v, %v", s, r.delay, again, err)
		}
	})
}
