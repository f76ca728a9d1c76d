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
	pool, dbURL, drop, err := OpenMigrated(prefix, migrate)
	if err != nil {
		fmt.Fprint(os.Stderr, Unreachable(err, "make test"))
		return 1
	}
	defer drop()
	os.Setenv("DATABASE_URL", dbURL)
	*db = pool
	return m.Run()
}

// OpenMigrated creates a fresh database named after prefix, opens a pool on
// it and runs migrate on it (qg.Migrate, or qg.MigrateQue2 for a Ruby Que
// 2.x table). It returns the pool, the database's URL and the function
// that closes the pool and drops the database.
func OpenMigrated(prefix string, migrate func(context.Context, *sql.DB) error) (*sql.DB, string, func(), error) {
	dbURL, drop, err := CreateDatabase(AdminURL(), Name(prefix))
	if err != nil {
		return nil, "", nil, err
	}
	pool, err := sql.Open("pgx", dbURL)
	if err != nil {
		drop()
		return nil, "", nil, err
	}
	done := func() {
		pool.Close()
		drop()
	}
	if err := migrate(context.Background(), pool); err != nil {
		done()
		return nil, "", nil, fmt.Errorf("migrate %s: %w", prefix, err)
	}
	return pool, dbURL, done, nil
}
