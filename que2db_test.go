package qg

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/qg-go/qg/internal/pgtest"
)

// golden2Dir holds what the real Ruby Que 2.4.1 wrote, worked, failed and
// notified on a schema-7 table (see its README).
const golden2Dir = "testdata/ruby-que-2.4.1"

// newQue2Database creates a database of the test's own whose que_jobs is the
// Que 2.x layout (made by MigrateQue2), and drops it after the test. A
// database, not a schema: Que 2 hard-codes public.que_jobs, and advisory
// locks are keyed per database.
func newQue2Database(t *testing.T) (*sql.DB, string) {
	t.Helper()
	db, url := scratchDatabase(t, "qg_que2")
	if err := MigrateQue2(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db, url
}

// The run's shared Que 2.x database, made by runTests (createQue2DB) and
// dropped at its end. Tests on it keep to queues of their own, as on
// testDB.
var (
	que2DB   *sql.DB
	que2URL  string
	que2Drop = func() {}
)

// createQue2DB creates the run's Que 2.x database with MigrateQue2.
func createQue2DB() error {
	url, drop, err := pgtest.CreateDatabase(pgtest.AdminURL(), pgtest.Name("qg_test2"))
	if err != nil {
		return err
	}
	db, err := sql.Open("pgx", url)
	if err == nil {
		err = MigrateQue2(context.Background(), db)
	}
	que2DB, que2URL = db, url
	que2Drop = func() {
		if db != nil {
			db.Close()
		}
		drop()
	}
	return err
}

// que2Shared returns the run's Que 2.x database.
func que2Shared(t *testing.T) (*sql.DB, string) {
	t.Helper()
	return que2DB, que2URL
}

// dropQue2DB drops the run's Que 2.x database.
func dropQue2DB() { que2Drop() }

// setup2 is setup on the run's Que 2.x database: a Client, the test's
// queue, and a check after the test that no advisory lock is left there.
func setup2(t *testing.T) (*Client, string) {
	t.Helper()
	db, _ := que2Shared(t)
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		assertNoLocksIn(t, db)
	})
	return c, testQueue(t)
}

// assertNoLocksIn is assertNoLocks for the database of db.
func assertNoLocksIn(t *testing.T, db *sql.DB) {
	t.Helper()
	n := 0
	count := func() bool {
		err := db.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == 0
	}
	if !poll(5*time.Second, count) {
		t.Errorf("%d advisory locks left in the test database", n)
	}
}
