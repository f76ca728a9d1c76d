package qg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v4"
)

// walkInTx is a Worker's lock attempt, in one round trip: BEGIN, the walk
// and the re-check go to the server as one pipeline. The walk keeps the key
// of the job it locked in a transaction-local setting, and the re-check, the
// next statement, reads it with a snapshot newer than the walk's. The job
// comes back with its transaction open; when the walk locked nothing or the
// job is gone, the transaction is rolled back (the lock, a session lock,
// stays until unlocked).
func (j *Job) walkInTx(ctx context.Context, queue string) (found, exists bool, err error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(j.d.lockJobInTx, queue, j.client.heldIDs())
	b.Queue(j.d.lockedJobExists)
	found, exists, err = j.readWalkInTx(j.pgxConn.SendBatch(ctx, b))
	if err != nil {
		return false, false, fmt.Errorf("lock job in a transaction: %w", err)
	}
	if !found || !exists {
		if _, err := j.pgxConn.Exec(ctx, rollbackNoJob); err != nil {
			return false, false, fmt.Errorf("lock job in a transaction: rollback: %w", err)
		}
		return found, exists, nil
	}
	j.tx = &connTx{conn: j.conn, pgxConn: j.pgxConn}
	return true, true, nil
}

// rollbackNoJob ends the transaction walkInTx began when it yields no job.
// Its comment names it in pg_stat_activity, where it is the last statement
// of an idle worker's connection after a poll of an empty queue.
const rollbackNoJob = "/* qg:lock_job_no_job */ ROLLBACK"

// readWalkInTx reads the results of walkInTx's pipeline into j.
func (j *Job) readWalkInTx(br pgx.BatchResults) (found, exists bool, err error) {
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return false, false, err
	}
	err = j.d.scanJob(withKeptKey{br.QueryRow()}, j)
	found = err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, false, err
	}
	if err := br.QueryRow().Scan(&exists); err != nil {
		return false, false, err
	}
	return found, found && exists, nil
}

// withKeptKey scans a row of lockJobInTx, whose last column (the key it
// kept) is not the job's.
type withKeptKey struct{ row rowScanner }

func (r withKeptKey) Scan(dest ...any) error {
	var kept *string
	return r.row.Scan(append(dest, &kept)...)
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

// saveFields remembers the job's fields before a statement in the job's own
// transaction changes them (once a transaction): if the transaction does not
// commit, the row keeps its old key and the Job must too.
func (j *Job) saveFields() {
	if j.tx == nil || j.injectedTx || j.saved != nil {
		return
	}
	f := j.fields()
	j.saved = &f
}

// settleFields ends what saveFields began: after a commit the changed fields
// are the row's, otherwise the saved ones are put back.
func (j *Job) settleFields(committed bool) {
	s := j.saved
	j.saved = nil
	if s == nil || committed {
		return
	}
	j.setFields(*s)
}

// commit finishes a job whose WorkFunc succeeded, in one round trip: it
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
	if j.locker != nil {
		err := j.commitBatch()
		j.settleFields(err == nil)
		return err
	}
	tx, ok := j.tx.(*connTx)
	if !ok || tx.finished {
		return errors.New("qg: the job's transaction was ended by the WorkFunc")
	}
	j.tx = nil
	ctx, cancel := j.finishContext()
	defer cancel()
	unlocked, err := runFinish(j.pgxConn.SendBatch(ctx, j.finishBatch()))
	j.unlocked = unlocked
	if err != nil && !errors.Is(err, errUnlockAfterCommit) {
		_, _ = j.pgxConn.Exec(ctx, "ROLLBACK") // only a warning when none is open
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
		b.Queue(j.d.deleteJob, j.d.keyArgs(j)...)
	} else {
		b.Queue("SELECT 1")
	}
	b.Queue("COMMIT")
	b.Queue(j.d.unlockJob, j.ID)
	return b
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

// errUnlockAfterCommit says a job's work and deletion committed but its
// unlock failed: the job is finished, and its session may still hold the
// lock.
var errUnlockAfterCommit = errors.New("committed, but the unlock failed")

// errRolledBack says a COMMIT found its transaction aborted by an earlier
// failed statement that the WorkFunc did not report.
var errRolledBack = errors.New("transaction rolled back: a statement in it failed")
