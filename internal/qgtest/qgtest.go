// Package qgtest is the test scaffolding of the modules built on qg (those
// under contrib/): a migrated database per test binary, and a Client and a
// queue per test.
package qgtest

import (
	"database/sql"
	"testing"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/internal/pgtest"
)

// Main runs a test binary's tests on a fresh database with qg's table,
// dropped after; *db is a pool on it meanwhile, and DATABASE_URL its URL
// (for the runnable examples). It returns the exit code.
func Main(m *testing.M, prefix string, db **sql.DB) int {
	return pgtest.RunMigrated(m, prefix, qg.Migrate, db)
}

// Setup returns a Client on db and a queue of the test's own, and checks
// after the test that no advisory lock is left.
func Setup(t *testing.T, db *sql.DB) (*qg.Client, string) {
	t.Helper()
	c, err := qg.NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		pgtest.CheckNoLocks(t, db)
	})
	return c, pgtest.Queue(t)
}
