package qg

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The outcomes an archived job can have, in qg_jobs_archive.outcome.
const (
	// OutcomeWorked is the outcome of a job deleted while a worker, Go or
	// Ruby, held its lock: a job worked successfully.
	OutcomeWorked = "worked"
	// OutcomeDeleted is the outcome of a job deleted while no worker held
	// its lock: by hand or by a tool.
	OutcomeDeleted = "deleted"
)

// DefaultPruneBatch is the batch size of [PruneArchive] and [PruneUnique]
// when theirs is zero or negative.
const DefaultPruneBatch = 1000

// pruneArchive deletes one batch of rows finished more than $1 seconds
// ago, oldest first, by ctid (a TID scan); concurrent prunes skip each
// other's rows instead of waiting.
const pruneArchive = `/* qg:prune_archive */ DELETE FROM qg_jobs_archive
WHERE ctid = ANY (ARRAY(
  SELECT ctid FROM qg_jobs_archive
  WHERE finished_at < now() - make_interval(secs => $1::double precision)
  ORDER BY finished_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED))`

// EnableArchive makes every job deleted from que_jobs be copied, in the
// deleting transaction, into the table qg_jobs_archive: all of que_jobs'
// columns, finished_at (when it was deleted) and outcome ([OutcomeWorked]
// or [OutcomeDeleted]). A Worker deletes a job in the transaction of its
// work, so a job is archived exactly when its work commits; a rolled-back
// run archives nothing. It works through an AFTER DELETE trigger on
// que_jobs, so jobs that Ruby Que workers finish are archived too; Ruby
// never notices the trigger. Given-up jobs are not deleted: they stay, with
// their last error, in their dead-letter queue ([DeadQueue]) until someone
// deletes them (then they are archived as deleted). TRUNCATE archives
// nothing.
//
// EnableArchive creates qg_jobs_archive when it is missing (as [Migrate]
// does), needs the right to create triggers on que_jobs (its owner), and is
// idempotent. Keep the archive small with [PruneArchive]; stop archiving
// with [DisableArchive].
//
// On a Ruby Que 2.x table a kept job is a row of que_jobs with finished_at
// set, as Que 2's own finish leaves it, not a copy: a job a qg Worker
// finishes is kept so, and a BEFORE DELETE trigger keeps so the jobs other
// workers delete while they hold their locks (Ruby's destroy after a run),
// neither finished nor expired. The lock walks of qg and Ruby skip finished
// rows. A job deleted while no worker holds it (by hand, Que.clear!) is
// deleted for real, as is one [Client.DeleteJob] (qg delete, the
// dashboard) removes. On this table [PruneArchive] scans que_jobs for each
// batch (finished_at has no index of its own): give it large batches.
func EnableArchive(ctx context.Context, db *sql.DB) error {
	schema, err := sideSchemas.ReadFile("schema_qg_archive.sql")
	if err != nil {
		return fmt.Errorf("qg: enable archive: %w", err)
	}
	err = runInTx(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`,
			migrateLockKey[0], migrateLockKey[1]); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(schema)); err != nil {
			return err
		}
		d, err := installDialect(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, d.installArchive())
		return err
	})
	if err != nil {
		return fmt.Errorf("qg: enable archive: %w", err)
	}
	return nil
}

// DisableArchive removes the trigger EnableArchive installed, if it is
// there: deleted jobs are no longer archived. The rows already archived
// stay in qg_jobs_archive (on a Ruby Que 2.x table, as finished rows).
func DisableArchive(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, dialectOr0(ctx, db).removeArchive()); err != nil {
		return fmt.Errorf("qg: disable archive: %w", err)
	}
	return nil
}

// PruneArchive deletes the rows of qg_jobs_archive (on a Ruby Que 2.x
// table, the finished rows of que_jobs; expired ones stay) that finished
// more than olderThan ago (a negative olderThan counts as zero), oldest
// first, and
// returns how many it deleted. It deletes batchSize rows at a time, each
// batch in a short transaction of its own, so it never holds many locks or
// a long transaction however large the archive; a zero or negative
// batchSize means [DefaultPruneBatch]. When ctx ends it stops between
// batches and returns what it deleted so far with ctx's error. Run it
// periodically (a periodic job does) for a retention of olderThan.
func PruneArchive(ctx context.Context, db *sql.DB, olderThan time.Duration, batchSize int) (deleted int64, err error) {
	query := dialectOr0(ctx, db).pruneArchive()
	deleted, _, err = pruneInBatches(ctx, db, query, batchSize, max(olderThan, 0).Seconds())
	if err != nil {
		return deleted, fmt.Errorf("qg: prune archive: %w", err)
	}
	return deleted, nil
}

// pruneInBatches runs query (a DELETE of at most $2 rows, whose first
// parameter is arg) until a batch deletes fewer than the batch size. It
// returns the rows deleted and the batches run.
func pruneInBatches(ctx context.Context, db *sql.DB, query string, batchSize int, arg any) (deleted int64, batches int, err error) {
	if batchSize <= 0 {
		batchSize = DefaultPruneBatch
	}
	for {
		if err := ctx.Err(); err != nil {
			return deleted, batches, err
		}
		res, err := db.ExecContext(ctx, query, arg, batchSize)
		if err != nil {
			return deleted, batches, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return deleted, batches, err
		}
		deleted += n
		batches++
		if n < int64(batchSize) {
			return deleted, batches, nil
		}
	}
}
