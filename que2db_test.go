package qg

import (
	"context"
	"database/sql"
	"testing"
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
