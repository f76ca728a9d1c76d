package qg

import (
	"context"
	"database/sql"
	_ "embed" // SchemaQue2
	"fmt"
)

// SchemaQue2 is schema_que2.sql: the statements that create Ruby Que 2.x's
// tables (que_jobs at Que schema version 7, que_lockers, que_values, and
// Que's functions and triggers) as Ruby's Que.migrate!(version: 7) leaves
// them, so that Ruby Que 2.x opens the result as its own.
//
//go:embed schema_que2.sql
var SchemaQue2 string

// MigrateQue2 makes sure public.que_jobs exists at Que schema version 7 (the
// Ruby Que 2.x layout), for a team that starts in Go and adds Ruby Que 2.x
// later, or never. It creates Que 2's tables when que_jobs is missing, leaves
// an existing version 7 table (for example one Ruby created) untouched, and
// returns an error wrapping [ErrSchemaVersion] for a table of another
// version: qg never migrates a table between Que generations (Ruby's
// Que.migrate! does; see the README). Like [Migrate] it then creates qg's
// own side tables, is idempotent and is safe to run from several processes
// at once. [Migrate] itself keeps creating the Que 0.x table.
func MigrateQue2(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("qg: migrate que 2: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`,
		migrateLockKey[0], migrateLockKey[1]); err != nil {
		return fmt.Errorf("qg: migrate que 2: take migration lock: %w", err)
	}
	var exists bool
	var version sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT to_regclass('public.que_jobs') IS NOT NULL,
  obj_description(to_regclass('public.que_jobs'), 'pg_class')`).Scan(&exists, &version)
	if err != nil {
		return fmt.Errorf("qg: migrate que 2: check que_jobs: %w", err)
	}
	switch {
	case !exists:
		if _, err := tx.ExecContext(ctx, SchemaQue2); err != nil {
			return fmt.Errorf("qg: migrate que 2: create que_jobs: %w", err)
		}
	case version.String != "7":
		return fmt.Errorf("%w: public.que_jobs is at Que schema version %s; MigrateQue2 leaves it alone "+
			"(upgrade a Que 0.x table with Ruby Que's migrations, see the README)",
			ErrSchemaVersion, describeVersion(version))
	}
	if err := migrateSideTables(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("qg: migrate que 2: commit: %w", err)
	}
	return nil
}
