package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
)

// RunMigrated is a TestMain body: it creates a fresh database named after
// prefix, opens a pool on it, runs migrate on it, sets DATABASE_URL to it
// (for runnable examples), runs the tests with the pool in *db, and drops
// the database. It returns the exit code for os.Exit.
func RunMigrated(m *testing.M, prefix string, migrate func(context.Context, *sql.DB) error, db **sql.DB) int {
	dbURL, drop, err := CreateDatabase(AdminURL(), Name(prefix))
	if err != nil {
		fmt.Fprint(os.Stderr, Unreachable(err, "make test"))
		return 1
	}
	defer drop()
	os.Setenv("DATABASE_URL", dbURL)
	pool, err := sql.Open("pgx", dbURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pool.Close()
	if err := migrate(context.Background(), pool); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*db = pool
	return m.Run()
}
