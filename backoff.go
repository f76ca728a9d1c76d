package qg

import "time"

// MaxBackoff caps the delay [Backoff] returns: 30 days. Without a cap Que's
// formula would overflow PostgreSQL's interval after about 1,742 failures.
const MaxBackoff = 30 * 24 * time.Hour

// Backoff is Que's retry delay after a job's errorCount-th failure:
// errorCount⁴ + 3 seconds (4 s, 19 s, 84 s, 259 s, ...), capped at
// [MaxBackoff]. A count below 1 is taken as 1.
func Backoff(errorCount int) time.Duration {
	const maxSeconds = int64(MaxBackoff / time.Second)
	n := int64(max(errorCount, 1))
	// 41⁴ s is already past the cap; stopping there keeps n⁴ from overflowing.
	if n > 41 {
		return MaxBackoff
	}
	return time.Duration(min(n*n*n*n+3, maxSeconds)) * time.Second
}
