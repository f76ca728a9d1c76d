package qg

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgconn"
)

// How a job's failure is recorded: Error, a retry from a fresh connection
// when the job's own one broke, and giving a job up.

// Error records a failure of the job: error_count grows by one, last_error
// becomes msg and run_at moves to now() plus Que's backoff for the new count
// (see [Backoff]). The job stays in que_jobs and runs again then.
func (j *Job) Error(msg string) error {
	return j.errorIn(Backoff(int(j.ErrorCount)+1), msg)
}

// errorIn records a failure with an explicit delay before the next run.
func (j *Job) errorIn(delay time.Duration, msg string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.sync {
		return nil
	}
	ctx, cancel := finishContext()
	defer cancel()
	query, args := j.d.failJob(j, delay, msg, j.holder())
	j.saveFields() // a rollback of the job's transaction undoes this failure
	row, err := j.queryRow(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("qg: record error of job %d: %w", j.ID, err)
	}
	f := j.fields()
	err = row.Scan(&f.errorCount, runAtScanner{&f.runAt})
	if isNoRows(err) && j.locker != nil {
		err = errLockLost
	}
	if err != nil && !isNoRows(err) {
		return fmt.Errorf("qg: record error of job %d: %w", j.ID, err)
	}
	f.lastError = sql.NullString{String: cleanText(msg), Valid: true}
	j.setFields(f)
	j.errored = true
	return nil
}

// snoozeFor moves the job's run_at to now() + delay, no failure counted.
func (j *Job) snoozeFor(delay time.Duration) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.sync {
		return nil
	}
	ctx, cancel := finishContext()
	defer cancel()
	query, args := j.d.snoozeJob(j, delay, j.holder())
	row, err := j.queryRow(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("qg: snooze job %d: %w", j.ID, err)
	}
	f := j.fields()
	err = row.Scan(&f.errorCount, runAtScanner{&f.runAt})
	if isNoRows(err) && j.locker != nil {
		err = errLockLost
	}
	if err != nil && !isNoRows(err) {
		return fmt.Errorf("qg: snooze job %d: %w", j.ID, err)
	}
	j.setFields(f)
	return nil
}

// recordFailure records a failure on the job's pinned connection. When that
// connection is broken (its session was ended, or a deadline interrupted a
// statement on it), the session and its lock are gone already: the
// connection is released and the failure is recorded from a fresh
// connection, provided no other worker has locked the job since. Without
// this, a job that always breaks its connection would rerun at once, forever,
// without backoff. A batch job still held by its locker records from a pool
// connection already, checking the locker holds it: nothing to retry.
func (j *Job) recordFailure(delay time.Duration, msg string) error {
	if j.unlocked {
		// The lock is gone already: record only if no one took the job.
		j.Done()
		query, args := j.d.failJob(j, delay, msg, 0)
		return j.client.execIfFree(j, query, args)
	}
	err := j.errorIn(delay, msg)
	if err == nil || j.client == nil {
		return err
	}
	if !j.holdsOwnLock() {
		return err
	}
	j.Done()
	query, args := j.d.failJob(j, delay, msg, 0)
	return j.client.execIfFree(j, query, args)
}

// bury gives the job up: it moves to its dead-letter queue (DeadQueue) with
// its error count raised and its last error, where no worker takes it.
func (j *Job) bury(msg string) error {
	query, args, buried := j.d.giveUpJob(j, msg, j.holder())
	err := j.buryOnce(query, args)
	if err != nil && j.client != nil && j.holdsOwnLock() {
		j.Done()
		query, args, _ = j.d.giveUpJob(j, msg, 0) // execIfFree's lock is the check
		err = j.client.execIfFree(j, query, args)
	}
	if err != nil {
		return fmt.Errorf("qg: give up job %d: %w", j.ID, err)
	}
	j.setFields(buried)
	return nil
}

// buryOnce runs the statement that gives the job up, on its connection.
func (j *Job) buryOnce(query string, args []any) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	ctx, cancel := finishContext()
	defer cancel()
	if j.locker != nil {
		return j.buryHeld(ctx, query, args)
	}
	_, err := j.exec(ctx, query, args...)
	return err
}

// execIfFree runs a statement on job j from a pool connection, inside a
// transaction that first takes j's lock at transaction level: it runs only
// once no session holds the job's lock (waiting up to 5 s for it), and the
// lock ends with the transaction, so nothing can leak.
func (c *Client) execIfFree(j *Job, query string, args []any) error {
	ctx, cancel := finishContext()
	defer cancel()
	tx, err := c.pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("qg: job %d: begin: %w", j.ID, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	// The session that held the lock may still be on its way out (a backend
	// notices a closed socket only when its statement ends): wait a little
	// for the lock rather than give up at once.
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
		return fmt.Errorf("qg: job %d: %w", j.ID, err)
	}
	if _, err := tx.ExecContext(ctx, lockJobInTxn, j.ID); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" {
			return nil // another worker has it now; it records its own outcome
		}
		return fmt.Errorf("qg: job %d: lock: %w", j.ID, err)
	}
	if _, err := tx.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("qg: job %d: %w", j.ID, err)
	}
	return tx.Commit()
}
