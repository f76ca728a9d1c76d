package qg

import (
	"fmt"
	"time"
)

// PostgreSQL's timestamptz has the values 'infinity' and '-infinity', which
// another producer may write into run_at and which time.Time cannot hold.
// qg reads them as these two times and writes them back as the original
// text, so such a row is worked (-infinity is always due) and finished by
// its exact key instead of jamming its queue.
var (
	// NegativeInfinity is how qg reads run_at '-infinity'.
	NegativeInfinity = time.Date(-4713, 1, 1, 0, 0, 0, 0, time.UTC)
	// Infinity is how qg reads run_at 'infinity'.
	Infinity = time.Date(294276, 12, 31, 23, 59, 59, 0, time.UTC)
)

// runAtScanner scans a timestamptz that may be infinite into a time.Time.
type runAtScanner struct{ t *time.Time }

// Scan implements sql.Scanner.
func (s runAtScanner) Scan(v any) error {
	switch x := v.(type) {
	case time.Time:
		*s.t = x
	case string:
		switch x {
		case "infinity":
			*s.t = Infinity
		case "-infinity":
			*s.t = NegativeInfinity
		default:
			return fmt.Errorf("qg: unexpected timestamp %q", x)
		}
	default:
		return fmt.Errorf("qg: cannot scan %T into a timestamp", v)
	}
	return nil
}

// splitRunAt gives a run_at as the two arrays of a batch statement take
// it: the time and "", or for an infinity any time and its text.
func splitRunAt(t time.Time) (time.Time, string) {
	if v, ok := runAtValue(t).(string); ok {
		return time.Time{}, v
	}
	return t, ""
}

// runAtValue is the value to send for run_at in a key: the original text
// for the infinities, the time otherwise.
func runAtValue(t time.Time) any {
	switch {
	case t.Equal(Infinity):
		return "infinity"
	case t.Equal(NegativeInfinity):
		return "-infinity"
	}
	return t
}
