package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/qg-go/qg"
)

var migrateCommand = &command{
	name:     "migrate",
	summary:  "create que_jobs (Que 0.x, schema version 3; or Que 2.x, version 7) and qg's side tables",
	synopsis: "migrate [--que 0|2] [--database-url URL] [--json]",
	usage: `
Migrate creates the que_jobs table exactly as Ruby Que 0.x creates it
(schema version 3) when it is missing, and qg's own side tables (qg_*).
With --que 2 it creates Ruby Que 2.x's tables instead (que_jobs at schema
version 7, que_lockers, que_values, Que's functions and triggers), as Ruby's
Que.migrate!(version: 7) does. A que_jobs table that Ruby Que created is
left as it is, whichever of the two it is; one of another Que version is an
error: qg never migrates between Que versions (Ruby's Que.migrate! does). It
is idempotent and safe to run from several places at once.`,
	setup: setupMigrate,
}

// setupMigrate defines migrate's flag.
func setupMigrate(fs *flag.FlagSet) runner {
	que := fs.Int("que", 0, "the table to create when que_jobs is missing: `0` (Ruby Que 0.x) or 2 (Ruby Que 2.x)")
	return func(ctx context.Context, e *env, opts *options) error {
		if *que != 0 && *que != 2 {
			return usagef("--que must be 0 or 2, not %d", *que)
		}
		return runMigrate(ctx, e, opts, *que)
	}
}

// migrateResult is what --json prints.
type migrateResult struct {
	Migrated bool `json:"migrated"` // always true: a failure prints no result
	Created  bool `json:"created"`  // que_jobs was missing and is created
}

// runMigrate runs qg.Migrate, or with que 2 qg.MigrateQue2, on the
// command's database.
func runMigrate(ctx context.Context, e *env, opts *options, que int) error {
	db, err := openDB(ctx, e, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	var existed bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('que_jobs') IS NOT NULL`).Scan(&existed); err != nil {
		return fmt.Errorf("look for que_jobs: %w", err)
	}
	migrate := qg.Migrate
	if que == 2 {
		migrate = qg.MigrateQue2
	}
	if err := migrate(ctx, db); err != nil {
		return err
	}
	return render(e, opts, migrateResult{Migrated: true, Created: !existed})
}
