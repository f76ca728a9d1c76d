package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/qg-go/qg"
)

var migrateCommand = &command{
	name:     "migrate",
	summary:  "create que_jobs (Que 0.x, schema version 3) and qg's side tables",
	synopsis: "migrate [--database-url URL] [--json]",
	usage: `
Migrate creates the que_jobs table exactly as Ruby Que 0.x creates it
(schema version 3) when it is missing, and qg's own side tables (qg_*). A
que_jobs table that Ruby Que created is left as it is; one of another Que
version (1.x, 2.x) is an error. It is idempotent and safe to run from
several places at once.`,
	setup: func(fs *flag.FlagSet) runner { return runMigrate },
}

// migrateResult is what --json prints.
type migrateResult struct {
	Migrated bool `json:"migrated"` // always true: a failure prints no result
	Created  bool `json:"created"`  // que_jobs was missing and is created
}

// runMigrate runs qg.Migrate on the command's database.
func runMigrate(ctx context.Context, e *env, opts *options) error {
	db, err := openDB(ctx, e, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	var existed bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('que_jobs') IS NOT NULL`).Scan(&existed); err != nil {
		return fmt.Errorf("look for que_jobs: %w", err)
	}
	if err := qg.Migrate(ctx, db); err != nil {
		return err
	}
	return render(e, opts, migrateResult{Migrated: true, Created: !existed})
}
