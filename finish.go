package qg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v4"
)

// How a job ends when its work is done: deleted (by Delete, or by the
// commit pipeline of a Worker with the work's writes) or rolled back.

// Delete finishes the job by removing it from que_jobs. It runs inside the
// job's transaction when there is one (the removal then commits with it), and
// on the locked connection otherwise. Calling it again does nothing.
func (j *Job) Delete() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.deleted || j.sync {
		return nil
	}
	ctx, cancel := finishContext()
	defer cancel()
	query, args := j.d.deleteJob(j, j.holder())
	n, err := j.exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("qg: delete job %d: %w", j.ID, err)
	}
	if n == 0 && ((j.tx != nil && !j.injectedTx) || j.locker != nil) {
		// Someone else deleted it, or its lock was lost: the work done in
		// its transaction must not commit as this job's.
		return fmt.Errorf("qg: delete job %d: %w", j.ID, errVanished)
	}
	j.deleted = true
	return nil
}

// exec runs a statement in the job's transaction, on its pinned connection,
// or on an injected pgx connection, in that order of preference.
func (j *Job) exec(ctx context.Context, query string, args ...any) (int64, error) {
	switch {
	case j.tx != nil:
		return rowsAffected(j.tx.ExecContext(ctx, query, args...))
	case j.conn != nil:
		return rowsAffected(j.conn.ExecContext(ctx, query, args...))
	case j.pgxConn != nil:
		tag, err := j.pgxConn.Exec(ctx, query, args...)
		return tag.RowsAffected(), err
	case j.locker != nil:
		return rowsAffected(j.client.pool.ExecContext(ctx, query, args...))
	}
	return 0, errNoConn
}

// queryRow is exec for a statement that returns one row.
func (j *Job) queryRow(ctx context.Context, query string, args ...any) (rowScanner, error) {
	switch {
	case j.tx != nil:
		return j.tx.QueryRowContext(ctx, query, args...), nil
	case j.conn != nil:
		return j.conn.QueryRowContext(ctx, query, args...), nil
	case j.pgxConn != nil:
		return j.pgxConn.QueryRow(ctx, query, args...), nil
	case j.locker != nil:
		return j.client.pool.QueryRowContext(ctx, query, args...), nil
	}
	return nil, errNoConn
}

// rollback undoes the job's transaction, and with it a Delete or Error the
// WorkFunc made inside it.
func (j *Job) rollback() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.tx == nil || j.injectedTx {
		return
	}
	j.endTx()
	j.deleted, j.errored = false, false
}

// endTx rolls back the job's own transaction if it is still open, and puts
// back the fields a failure recorded inside it had changed.
func (j *Job) endTx() {
	if j.tx == nil || j.injectedTx {
		return
	}
	_ = j.tx.Rollback() // a no-op error when already finished
	j.tx = nil
	j.settleFields(false)
}

// commit finishes a job whose WorkFunc succeeded, in one round trip (a
// batch job too, once its transaction's session holds its lock): it
// deletes the job in the job's transaction (unless the WorkFunc already
// deleted it or recorded an error itself), commits, and unlocks the job. A
// failed delete or commit undoes both the work and the deletion, and is
// returned as the job's error; the job then stays locked for Error and Done.
// An unlock that fails after the COMMIT went through returns an error
// wrapping errUnlockAfterCommit: the job is finished, and Done closes its
// connection, which may still hold the lock, instead of pooling it.
func (j *Job) commit() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	tx, ok := j.tx.(*connTx)
	if j.locker != nil && (!ok || j.ownLock.Load() == 0) {
		err := j.commitBatch()
		j.settleFields(err == nil)
		return err
	}
	if !ok || tx.finished {
		return errors.New("qg: the job's transaction was ended by the WorkFunc")
	}
	j.tx = nil
	ctx, cancel := finishContext()
	defer cancel()
	var unlocked bool
	var err error
	if j.pgxConn == nil {
		unlocked, err = j.finishApart(ctx)
	} else {
		unlocked, err = runFinish(j.pgxConn.SendBatch(ctx, j.finishBatch()))
	}
	j.unlocked = unlocked
	if err != nil && !errors.Is(err, errUnlockAfterCommit) {
		_, _ = j.conn.ExecContext(ctx, "ROLLBACK") // only a warning when none is open
		j.deleted, j.errored = false, false
		j.settleFields(false)
		return fmt.Errorf("qg: finish job %d: %w", j.ID, err)
	}
	j.deleted = true
	j.settleFields(true)
	if err != nil {
		j.broken = true
		return fmt.Errorf("qg: finish job %d: %w", j.ID, err)
	}
	return nil
}

// finishBatch is commit's pipeline: the delete (or a guard when the job is
// not to be deleted), COMMIT, and the unlock. A statement before COMMIT fails
// in an aborted transaction and stops the pipeline there, so the unlock never
// runs after a COMMIT that rolled back: the job stays locked while its
// failure is recorded.
func (j *Job) finishBatch() *pgx.Batch {
	b := &pgx.Batch{}
	if !j.deleted && !j.errored {
		query, args := j.d.deleteLockedJob(j)
		b.Queue(query, args...)
	} else {
		b.Queue("SELECT 1")
	}
	b.Queue("COMMIT")
	b.Queue(unlockJob, j.ID)
	return b
}

// finishApart is commit's pipeline on another driver, a statement at a
// time: the delete (or a guard, which fails in an aborted transaction, whose
// COMMIT would roll back without an error), COMMIT, the unlock.
func (j *Job) finishApart(ctx context.Context) (unlocked bool, err error) {
	query, args := "SELECT 1", []any(nil)
	if !j.deleted && !j.errored {
		query, args = j.d.deleteLockedJob(j)
	}
	if _, err := j.conn.ExecContext(ctx, query, j.client.portable(args)...); err != nil {
		if strings.Contains(err.Error(), vanishedMarker) {
			err = fmt.Errorf("%w: %v", errVanished, err)
		}
		return false, err
	}
	if _, err := j.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return false, err
	}
	if err := j.conn.QueryRowContext(ctx, unlockJob, j.ID).Scan(&unlocked); err != nil {
		return false, fmt.Errorf("%w: %w", errUnlockAfterCommit, err)
	}
	return unlocked, nil
}

// runFinish reads the results of commit's pipeline. unlocked reports whether
// the unlock ran and released the lock, even when err says the commit rolled
// back. An error after a COMMIT that went through wraps errUnlockAfterCommit.
func runFinish(br pgx.BatchResults) (unlocked bool, err error) {
	committed, unlocked, err := readFinish(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil && committed {
		return false, fmt.Errorf("%w: %w", errUnlockAfterCommit, err)
	}
	return unlocked, err
}

// readFinish reads the delete (or guard), the COMMIT, and the unlock.
func readFinish(br pgx.BatchResults) (committed, unlocked bool, err error) {
	if _, err := br.Exec(); err != nil {
		if strings.Contains(err.Error(), vanishedMarker) {
			err = fmt.Errorf("%w: %v", errVanished, err)
		}
		return false, false, err
	}
	tag, err := br.Exec()
	if err != nil {
		return false, false, err
	}
	committed = string(tag) == "COMMIT"
	if err := br.QueryRow().Scan(&unlocked); err != nil {
		return committed, false, err
	}
	if string(tag) == "ROLLBACK" {
		return false, unlocked, errRolledBack
	}
	return committed, unlocked, nil
}
