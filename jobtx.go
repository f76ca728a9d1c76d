package qg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v4"
)

// walkInTx is a Worker's lock attempt, in one round trip: BEGIN, the walk
// and the re-check go to the server as one pipeline. The walk keeps the key
// of the job it locked in a transaction-local setting, and the re-check, the
// next statement, reads it with a snapshot newer than the walk's. The job
// comes back with its transaction open; when the walk locked nothing or the
// job is gone, the transaction is rolled back (the lock, a session lock,
// stays until unlocked).
//
// A transaction that is not READ COMMITTED reads the walk's snapshot all
// along, so the re-check would prove nothing: the job is re-checked in a new
// transaction instead, and the Client's later attempts use walkThenBegin.
func (j *Job) walkInTx(ctx context.Context, queue string) (found, exists bool, err error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	query, args := j.d.lockJobInTx(queue, j.client.heldIDs())
	b.Queue(query, args...)
	b.Queue(j.d.lockedJobExists())
	found, exists, fresh, err := j.readWalkInTx(j.pgxConn.SendBatch(ctx, b))
	if err != nil {
		return false, false, fmt.Errorf("lock job in a transaction: %w", err)
	}
	if !fresh {
		j.client.walkApart.Store(true)
	}
	if !found || !exists || !fresh {
		if _, err := j.pgxConn.Exec(ctx, rollbackNoJob); err != nil {
			return false, false, fmt.Errorf("lock job in a transaction: rollback: %w", err)
		}
	}
	if found && !fresh {
		exists, err = j.beginIfExists(ctx)
		return true, exists, err
	}
	if found && exists {
		j.tx = &connTx{conn: j.conn, pgxConn: j.pgxConn}
	}
	return found, exists, nil
}

// walkThenBegin is walkInTx in two round trips, for sessions whose
// transactions are not READ COMMITTED: the walk, in a transaction of its
// own, then BEGIN with the re-check, whose snapshot, the new transaction's
// first, is newer than the walk's at any isolation level.
func (j *Job) walkThenBegin(ctx context.Context, queue string) (found, exists bool, err error) {
	found, err = j.walk(ctx, queue)
	if err != nil || !found {
		return false, false, err
	}
	exists, err = j.beginIfExists(ctx)
	return true, exists, err
}

// beginIfExists begins the transaction of a freshly locked job and re-checks
// the job as its first statement, in one round trip. When the job is gone
// the transaction is rolled back.
func (j *Job) beginIfExists(ctx context.Context) (bool, error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	query, args := j.d.jobExists(j)
	b.Queue(query, args...)
	br := j.pgxConn.SendBatch(ctx, b)
	var exists bool
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&exists)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("begin job %d: %w", j.ID, err)
	}
	if !exists {
		_, err := j.pgxConn.Exec(ctx, "ROLLBACK")
		return false, err
	}
	j.tx = &connTx{conn: j.conn, pgxConn: j.pgxConn}
	return true, nil
}

// rollbackNoJob ends the transaction walkInTx began when it yields no job.
// Its comment names it in pg_stat_activity, where it is the last statement
// of an idle worker's connection after a poll of an empty queue.
const rollbackNoJob = "/* qg:lock_job_no_job */ ROLLBACK"

// readWalkInTx reads the results of walkInTx's pipeline into j. fresh
// reports whether the transaction is READ COMMITTED.
func (j *Job) readWalkInTx(br pgx.BatchResults) (found, exists, fresh bool, err error) {
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return false, false, false, err
	}
	err = j.d.scanJob(withKeptKey{br.QueryRow()}, j)
	found = err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, false, false, err
	}
	if err := br.QueryRow().Scan(&exists, &fresh); err != nil {
		return false, false, false, err
	}
	return found, found && exists, fresh, nil
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
	ctx, cancel := finishContext()
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
		query, args := j.d.deleteLockedJob(j)
		b.Queue(query, args...)
	} else {
		b.Queue("SELECT 1")
	}
	b.Queue("COMMIT")
	b.Queue(unlockJob, j.ID)
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
