package qg

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v4/stdlib"

	"github.com/qg-go/qg/internal/pgtest"
)

// testURL is the URL of the database created for this test run.
var testURL string

// testDB is a pool on the database created for this test run.
var testDB *sql.DB

// TestMain creates a fresh database for the run, migrates it, runs the tests
// and drops it.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dbURL, drop, err := pgtest.CreateDatabase(pgtest.AdminURL(), pgtest.Name("qg_test"))
	if err != nil {
		fmt.Fprint(os.Stderr, pgtest.Unreachable(err, "make test            (starts a local or Docker PostgreSQL, then runs the tests)"))
		return 1
	}
	defer drop()
	testURL = dbURL
	// The runnable examples open DATABASE_URL, as a program would.
	os.Setenv("DATABASE_URL", dbURL)
	testDB, err = sql.Open("pgx", dbURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testDB.Close()
	if err := Migrate(context.Background(), testDB); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

var queueUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_]+`)

// testQueue names a queue of the test's own, so tests never take each
// other's jobs.
func testQueue(t *testing.T) string {
	return "test_" + strings.ToLower(queueUnsafe.ReplaceAllString(t.Name(), "_"))
}

// setup returns a Client on the test database and the test's queue, and
// checks after the test that no advisory lock is left in the database.
func setup(t *testing.T) (*Client, string) {
	t.Helper()
	c, err := NewClient2(testDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		assertNoLocks(t)
	})
	return c, testQueue(t)
}

// assertNoLocks fails the test when an advisory lock of the test database is
// still held a few seconds after the test (sessions ended from the server
// side take a moment to go).
func assertNoLocks(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := countLocks(t)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d advisory locks left in the test database", n)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countLocks counts advisory locks held in the test database.
func countLocks(t *testing.T) int {
	t.Helper()
	var n int
	err := testDB.QueryRow(`SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// enqueue inserts a job through the Client and fails the test on error.
func enqueue(t *testing.T, c *Client, j *Job) *Job {
	t.Helper()
	if err := c.Enqueue(j); err != nil {
		t.Fatal(err)
	}
	return j
}

// mustLock locks a job of queue and fails the test when none is there.
func mustLock(t *testing.T, c *Client, queue string) *Job {
	t.Helper()
	j, err := c.LockJob(queue)
	if err != nil {
		t.Fatal(err)
	}
	if j == nil {
		t.Fatalf("no job locked in queue %q", queue)
	}
	return j
}

// countJobs counts the rows of queue.
func countJobs(t *testing.T, queue string) int {
	t.Helper()
	var n int
	if err := testDB.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = $1`, queue).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// openDB opens a new pool on the test database, closed after the test.
func openDB(t *testing.T, opts ...stdlib.OptionOpenDB) *sql.DB {
	t.Helper()
	cfg, err := pgxConfig(testURL)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg, opts...)
	t.Cleanup(func() { db.Close() })
	return db
}

// testServerURL is the test server's URL for database name.
func testServerURL(t *testing.T, name string) string {
	t.Helper()
	u, err := url.Parse(testURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// waitForCount polls query, which returns one count, until done accepts the
// count, and fails the test after 10 seconds, naming what it waited for.
func waitForCount(t *testing.T, what string, done func(n int) bool, query string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := testDB.QueryRow(query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if done(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s: count is %d", what, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
