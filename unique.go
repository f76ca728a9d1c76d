package qg

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// EnableUniqueJobs installs the triggers on que_jobs that free a unique
// job's key when the job leaves the table (worked and deleted by a Go or a
// Ruby worker, deleted by hand, given up, or truncated). It is opt-in,
// like [InstallNotifyTrigger]: Migrate leaves a Ruby-created que_jobs
// alone, and every delete pays for the trigger (one index probe on
// qg_unique). The trigger functions run as the role that ran [Migrate],
// with a search_path pinned to qg_unique's schema, so a role granted only
// que_jobs (a Ruby application's) deletes its jobs without any grant on
// qg_unique. Only the row that took a key frees it: a row of another
// producer that reuses its job_id does not. Idempotent; [DisableUniqueJobs] removes them, after which
// unique enqueues fail with ErrUniqueUnavailable.
func EnableUniqueJobs(ctx context.Context, db *sql.DB) error {
	d, err := installDialect(ctx, db)
	if err != nil {
		return fmt.Errorf("qg: enable unique jobs: %w", err)
	}
	if _, err := db.ExecContext(ctx, d.enableUnique()); err != nil {
		return fmt.Errorf("qg: enable unique jobs: %w", err)
	}
	return nil
}

// DisableUniqueJobs removes the triggers EnableUniqueJobs installed.
func DisableUniqueJobs(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, dialectOr0(ctx, db).disableUnique()); err != nil {
		return fmt.Errorf("qg: disable unique jobs: %w", err)
	}
	return nil
}

// maxUniqueTries bounds the runs of insertUnique for one job. A run is
// inconclusive only when a concurrent transaction took or re-took the key
// after the run's snapshot; the next run sees it.
const maxUniqueTries = 10

// pruneUnique deletes one batch of keys expired more than $1 seconds ago;
// a key being re-taken is skipped.
const pruneUnique = `/* qg:prune_unique */ DELETE FROM qg_unique
WHERE ctid = ANY (ARRAY(
  SELECT ctid FROM qg_unique
  WHERE expires_at < statement_timestamp() - make_interval(secs => $1::double precision)
  LIMIT $2
  FOR UPDATE SKIP LOCKED))`

// isUnique reports whether j asks to be unique.
func (j *Job) isUnique() bool {
	return j.Unique || j.UniqueKey != "" || j.UniqueFor > 0
}

// enqueueUnique enqueues a validated unique job through q, and reports
// false, doing nothing, for a job that is not unique. It clears Duplicate.
func (c *Client) enqueueUnique(ctx context.Context, q Queryer, j *Job) (bool, error) {
	j.Duplicate = false
	if !j.isUnique() {
		return false, nil
	}
	key, err := uniqueKey(j)
	if err != nil {
		return true, fmt.Errorf("qg: enqueue unique %s job in queue %s: %w", quoted(j.Type), quoted(j.Queue), err)
	}
	query, args := c.d.insertUnique(j, key, j.UniqueFor)
	for range maxUniqueTries {
		done, err := insertUniqueOnce(ctx, q, j, query, args)
		if err != nil {
			return true, fmt.Errorf("qg: enqueue unique %s job in queue %s: %w", quoted(j.Type), quoted(j.Queue), err)
		}
		if done {
			return true, nil
		}
	}
	return true, fmt.Errorf("qg: enqueue unique %s job in queue %s: its key kept changing in %d tries",
		quoted(j.Type), quoted(j.Queue), maxUniqueTries)
}

// insertUniqueOnce runs the dialect's insertUnique statement once. It reports false when the run
// was inconclusive.
func insertUniqueOnce(ctx context.Context, q Queryer, j *Job, query string, args []any) (bool, error) {
	var result string
	var id sql.NullInt64
	var priority sql.NullInt16
	var runAt time.Time
	err := q.QueryRowContext(ctx, query, args...).
		Scan(&result, &id, &priority, optionalRunAt{&runAt})
	switch {
	case isNoRows(err):
		return false, nil
	case isUndefinedTable(err):
		return false, fmt.Errorf("%w (%v)", ErrUniqueUnavailable, err)
	case err != nil:
		return false, err
	case result == "unarmed":
		return false, fmt.Errorf("%w (its triggers on que_jobs are missing or disabled)", ErrUniqueUnavailable)
	}
	j.ID = id.Int64
	j.Duplicate = result == "duplicate"
	if !j.Duplicate {
		j.Priority, j.RunAt = priority.Int16, runAt
	}
	return true, nil
}

// enqueueUniqueBatch enqueues validated jobs one by one when any of them is
// unique, in a transaction of its own when q is a *sql.DB, so the batch
// still commits as a whole. It reports false, doing nothing, when none is
// unique. It clears Duplicate on every job.
func (c *Client) enqueueUniqueBatch(ctx context.Context, q Queryer, jobs []*Job) (bool, error) {
	unique := false
	for _, j := range jobs {
		j.Duplicate = false
		unique = unique || j.isUnique()
	}
	if !unique {
		return false, nil
	}
	if db, ok := q.(*sql.DB); ok {
		return true, runInTx(ctx, db, func(tx *sql.Tx) error { return c.enqueueEach(ctx, tx, jobs) })
	}
	return true, c.enqueueEach(ctx, q, jobs)
}

// enqueueEach enqueues jobs in order through q.
func (c *Client) enqueueEach(ctx context.Context, q Queryer, jobs []*Job) error {
	for i, j := range jobs {
		if err := c.insertOne(ctx, q, j); err != nil {
			return wrap(fmt.Sprintf("qg: enqueue batch: job %d", i), err)
		}
	}
	return nil
}

// uniqueKey is the key qg_unique stores for j: a SHA-256 of UniqueKey, or
// of the queue, the type and the args in canonical JSON. Each part is
// prefixed with its length, so no two different jobs give the same input.
func uniqueKey(j *Job) (string, error) {
	h := sha256.New()
	if j.UniqueKey != "" {
		fmt.Fprintf(h, "key:%d:%s", len(j.UniqueKey), j.UniqueKey)
		return "k:" + hex.EncodeToString(h.Sum(nil)), nil
	}
	args, err := canonicalJSON([]byte(jobArgs(j)))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidArgs, err)
	}
	fmt.Fprintf(h, "args:%d:%s%d:%s%d:%s", len(j.Queue), j.Queue, len(j.Type), j.Type, len(args), args)
	return "a:" + hex.EncodeToString(h.Sum(nil)), nil
}

// PruneUnique deletes the keys of unique jobs that expired more than
// olderThan ago (a negative olderThan counts as zero): the keys of jobs
// that finished with a UniqueFor that has passed since. An expired key
// takes no part in uniqueness, and is re-used by the next enqueue of an
// equal job, so only keys never enqueued again accumulate; run PruneUnique
// now and then to remove them. It works in batches like [PruneArchive] and
// returns how many keys it deleted.
func PruneUnique(ctx context.Context, db *sql.DB, olderThan time.Duration, batchSize int) (deleted int64, err error) {
	deleted, _, err = pruneInBatches(ctx, db, pruneUnique, batchSize, max(olderThan, 0).Seconds())
	if err != nil {
		return deleted, fmt.Errorf("qg: prune unique keys: %w", err)
	}
	return deleted, nil
}

// optionalRunAt scans a run_at that may be NULL (left alone then).
type optionalRunAt struct{ t *time.Time }

// Scan implements sql.Scanner.
func (s optionalRunAt) Scan(v any) error {
	if v == nil {
		return nil
	}
	return runAtScanner{s.t}.Scan(v)
}
