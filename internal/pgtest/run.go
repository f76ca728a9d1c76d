package pgtest

import (
	"database/sql"
	"regexp"
	"strings"
	"testing"
	"time"
)

// WaitNoLocks waits up to timeout for no advisory lock of db's database to
// be held (sessions ended from the server side take a moment to go), and
// returns the count still held then.
func WaitNoLocks(db *sql.DB, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
		if (err == nil && n == 0) || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

var queueUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_]+`)

// Queue names a queue of the test's own, so tests never take each other's
// jobs.
func Queue(t testing.TB) string {
	return "t_" + strings.ToLower(queueUnsafe.ReplaceAllString(t.Name(), "_"))
}

// CheckNoLocks fails t when an advisory lock of db's database is still held
// five seconds from now.
func CheckNoLocks(t testing.TB, db *sql.DB) {
	t.Helper()
	if n, err := WaitNoLocks(db, 5*time.Second); n != 0 || err != nil {
		t.Errorf("%d advisory locks left (%v)", n, err)
	}
}
