package qg

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
)

// Schema is schema.sql: the statements that create the Ruby Que 0.x que_jobs
// table (Que schema version 3), exactly as Ruby Que 0.x creates it.
//
//go:embed schema.sql
var Schema string

// sideSchemas holds the idempotent SQL of qg's own side tables (all named
// qg_*), one feature a file: schema_qg_<feature>.sql. Migrate runs them in
// name order after que_jobs exists. They never touch que_jobs' columns.
//
//go:embed schema_qg_*.sql
var sideSchemas embed.FS

// migrateSideTables creates qg's side tables that are missing.
func migrateSideTables(ctx context.Context, tx *sql.Tx) error {
	names, err := fs.Glob(sideSchemas, "schema_qg_*.sql")
	if err != nil {
		return fmt.Errorf("qg: migrate: %w", err)
	}
	for _, name := range names { // fs.Glob returns them sorted
		stmt, err := sideSchemas.ReadFile(name)
		if err != nil {
			return fmt.Errorf("qg: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(stmt)); err != nil {
			return fmt.Errorf("qg: migrate: %s: %w", name, err)
		}
	}
	return nil
}

// migrateLockKey is the two-int4 advisory lock Migrate holds while it looks
// at and creates the table, so concurrent migrations never race. The two-int4
// form (objsubid 2 in pg_locks) can never collide with a job's lock.
var migrateLockKey = [2]int32{0x7167, 1} // 0x7167 is "qg"

// Migrate makes sure que_jobs exists at Que schema version 3. It creates the
// table when it is missing, leaves an existing version 3 table (for example
// one Ruby Que created) untouched, and returns an error wrapping
// [ErrSchemaVersion] for a table of another Que version. It is idempotent and
// safe to run from several processes at once.
func Migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("qg: migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`,
		migrateLockKey[0], migrateLockKey[1]); err != nil {
		return fmt.Errorf("qg: migrate: take migration lock: %w", err)
	}
	_, err = detectDialect(ctx, tx)
	if errors.Is(err, ErrNoTable) {
		if _, err := tx.ExecContext(ctx, Schema); err != nil {
			return fmt.Errorf("qg: migrate: create que_jobs: %w", err)
		}
	} else if err != nil {
		return err
	}
	if err := migrateSideTables(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("qg: migrate: commit: %w", err)
	}
	return nil
}
