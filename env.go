package qg

import (
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// defaultInterval is how long an idle worker sleeps before looking again.
const defaultInterval = 5 * time.Second

// maxInterval bounds QUE_WAKE_INTERVAL, so a typo cannot put workers to
// sleep for years.
const maxInterval = 24 * time.Hour

// parseWakeInterval reads a QUE_WAKE_INTERVAL value: seconds, whole or
// fractional ("1", "0.5"). It reports false for anything else, and for values
// that are not positive or exceed a day.
func parseWakeInterval(s string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > maxInterval.Seconds() {
		return 0, false
	}
	d := time.Duration(f * float64(time.Second))
	if d <= 0 {
		return 0, false
	}
	return d, true
}

// intervalFromEnv is QUE_WAKE_INTERVAL when it is set and valid, else 5 s.
func intervalFromEnv() time.Duration {
	if d, ok := parseWakeInterval(os.Getenv("QUE_WAKE_INTERVAL")); ok {
		return d
	}
	return defaultInterval
}

// queueFromEnv is QUE_QUEUE, or the default queue "" when it is unset.
func queueFromEnv() string {
	return os.Getenv("QUE_QUEUE")
}
