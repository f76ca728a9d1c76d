package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"time"

	"github.com/qg-go/qg"
)

var pruneCommand = &command{
	name:     "prune",
	summary:  "delete archived jobs that finished longer ago than a retention",
	synopsis: "prune --older-than DURATION [--batch N] [--database-url URL] [--json]",
	usage: `
Prune deletes the rows of qg_jobs_archive (the archive of finished jobs that
qg.EnableArchive keeps; on a Ruby Que 2.x table, the finished rows of
que_jobs) that finished more than --older-than ago, oldest
first, --batch rows per short transaction, so it never holds many locks
however large the archive. Run it from cron for a retention:

  qg prune --older-than 30d`,
	setup: setupPrune,
}

// pruneFlags are the flags of prune.
type pruneFlags struct {
	fs        *flag.FlagSet
	olderThan string
	batch     int
}

// setupPrune defines prune's flags.
func setupPrune(fs *flag.FlagSet) runner {
	f := &pruneFlags{fs: fs}
	fs.StringVar(&f.olderThan, "older-than", "", "the retention (`DURATION`): a Go duration (12h, 90m) or days (30d); required")
	fs.IntVar(&f.batch, "batch", qg.DefaultPruneBatch, "delete at most `N` rows per transaction")
	return func(ctx context.Context, e *env, opts *options) error {
		return runPrune(ctx, e, opts, f)
	}
}

// pruneResult is what prune prints.
type pruneResult struct {
	Deleted          int64   `json:"deleted"`
	OlderThan        string  `json:"older_than"`
	OlderThanSeconds float64 `json:"older_than_seconds"`
	Batch            int     `json:"batch"`
	ArchiveEnabled   bool    `json:"archive_enabled"` // false: nothing is being archived
}

// runPrune checks the flags and prunes the archive.
func runPrune(ctx context.Context, e *env, opts *options, f *pruneFlags) error {
	olderThan, err := f.check()
	if err != nil {
		return err
	}
	db, err := openDB(ctx, e, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkArchive(ctx, db); err != nil {
		return err
	}
	enabled, err := archiveEnabled(ctx, db)
	if err != nil {
		return err
	}
	deleted, err := qg.PruneArchive(ctx, db, olderThan, f.batch)
	if err != nil {
		return fmt.Errorf("%w (%d rows deleted before that)", err, deleted)
	}
	if !enabled {
		fmt.Fprintln(e.stderr, "qg prune: note: the archive is not enabled (no qg_archive_jobs trigger on que_jobs),\n"+
			"so finished jobs are not being archived; run 'qg enable archive' to start")
	}
	return render(e, opts, &pruneResult{deleted, olderThan.String(), olderThan.Seconds(), f.batch, enabled})
}

// check parses --older-than and checks --batch.
func (f *pruneFlags) check() (time.Duration, error) {
	if !isSet(f.fs, "older-than") {
		return 0, usagef("--older-than is required: the retention, like 30d or 12h")
	}
	d, err := parseDuration(f.olderThan)
	if err != nil {
		return 0, usagef("--older-than: %w", err)
	}
	if d <= 0 { // zero would delete the whole archive
		return 0, usagef("--older-than %s: want a positive duration", f.olderThan)
	}
	if f.batch <= 0 {
		return 0, usagef("--batch %d: want a positive number of rows", f.batch)
	}
	return d, nil
}

// checkArchive fails with the remedy when qg_jobs_archive is missing.
func checkArchive(ctx context.Context, db *sql.DB) error {
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('qg_jobs_archive') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("look for qg_jobs_archive: %w", err)
	}
	if !exists {
		return fmt.Errorf("table qg_jobs_archive does not exist in this database (search_path): run 'qg migrate' to create it")
	}
	return nil
}
