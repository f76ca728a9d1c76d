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
	j.tx = &connTx{conn: j.conn, pgxConn: j.pgxConn, ctx: j.client.ctx}
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
	_ = j.tx.Rollback()
	j.tx = nil
	j.deleted, j.errored = false, false
}

// commit finishes a job whose WorkFunc succeeded, in one round trip: it
// deletes the job in the job's transaction (unless the WorkFunc already
// deleted it or recorded an error itself), commits, and unlocks the job. A
// failed delete or commit undoes both the work and the deletion, and is
// returned as the job's error; the job then stays locked for Error and Done.
func (j *Job) commit() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.locker != nil {
		return j.commitBatch()
	}
	tx, ok := j.tx.(*connTx)
	if !ok || tx.finished {
		return errors.New("qg: the job's transaction was ended by the WorkFunc")
	}
	j.tx = nil
	ctx, cancel := j.finishContext()
	defer cancel()
	deleting := !j.deleted && !j.errored
	b := &pgx.Batch{}
	// A statement before COMMIT fails in an aborted transaction and stops
	// the pipeline there, so the unlock never runs after a COMMIT that rolled
	// back: the job stays locked while its failure is recorded.
	if deleting {
		b.Queue(j.d.deleteJob, j.d.keyArgs(j)...)
	} else {
		b.Queue("SELECT 1")
	}
	b.Queue("COMMIT")
	b.Queue(j.d.unlockJob, j.ID)
	unlocked, err := runFinish(j.pgxConn.SendBatch(ctx, b))
	j.unlocked = unlocked
	if err != nil {
		_, _ = j.pgxConn.Exec(ctx, "ROLLBACK") // only a warning when none is open
		j.deleted, j.errored = false, false
		return fmt.Errorf("qg: finish job %d: %w", j.ID, err)
	}
	j.deleted = true
	return nil
}

// runFinish reads the results of commit's pipeline: the delete (or guard),
// the commit, and the unlock. unlocked reports whether the unlock ran and
// released the lock, even when err says the commit rolled back.
func runFinish(br pgx.BatchResults) (unlocked bool, err error) {
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return false, err
	}
	tag, err := br.Exec()
	if err != nil {
		return false, err
	}
	if serr := br.QueryRow().Scan(&unlocked); serr != nil {
		return false, serr
	}
	if string(tag) == "ROLLBACK" {
		return unlocked, errRolledBack
	}
	return unlocked, nil
}

// errRolledBack says a COMMIT found its transaction aborted by an earlier
// failed statement that the WorkFunc did not report.
var errRolledBack = errors.New("transaction rolled back: a statement in it failed")

// abandon gives up on a job a shutdown no longer waits for: its context is
// cancelled, then its server session is ended, which frees its lock so the
// job runs again elsewhere. The Job's own goroutine still calls Done, which
// finds the connection broken and discards it.
func (j *Job) abandon() {
	j.abandoned.Store(true)
	if j.cancel != nil {
		j.cancel()
	}
	if j.client != nil {
		j.client.terminate([]uint32{j.pid})
	}
}
