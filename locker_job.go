package qg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v4"
)

// A job a batch locker holds: its lock is on the locker's session until its
// WorkFunc asks for a transaction or connection; that runs on a pool
// connection of its own, to which the locker then hands the job's lock (see
// locker_handoff.go). Its finishing statements check the lock's holder
// still holds it.

// batchTx begins, on first use, the transaction of a job a batch locker
// holds, on a connection of the pool. A job whose WorkFunc never calls Tx
// costs no round trip of its own.
//
// It is never nil: when no transaction can be had (no connection, or its
// lock went with the locker's session), it is a noTx whose every statement
// fails, and the run is released rather than failed (see Worker.fail): the
// job runs again, unchanged.
func (j *Job) batchTx() Txer {
	if j.txErr != nil {
		return noTx{j.txErr}
	}
	if j.tx != nil {
		return j.tx
	}
	pinned := j.conn != nil // by Conn: begin on it
	if err := j.pinBatchConn(true); err != nil {
		j.txErr = err
		return noTx{err}
	}
	if pinned {
		if _, err := j.pgxConn.Exec(j.Context(), "BEGIN"); err != nil {
			j.txErr = fmt.Errorf("qg: begin transaction of job %d: %w", j.ID, err)
			return noTx{j.txErr}
		}
	}
	j.tx = &connTx{conn: j.conn, pgxConn: j.pgxConn}
	return j.tx
}

// pinBatchConn takes a pool connection for a batch job's Tx or Conn, and
// has the locker hand it the job's lock; with begin, a transaction begins
// on it right after the lock is taken, in the same round trip. A connection
// that did not get the lock is discarded: its session may yet be granted
// it.
func (j *Job) pinBatchConn(begin bool) error {
	if j.conn != nil || j.txErr != nil {
		return j.txErr
	}
	conn, err := j.client.pool.Conn(j.Context())
	if err != nil {
		return fmt.Errorf("qg: connection for job %d: %w", j.ID, err)
	}
	pc, err := rawConn(conn)
	if err != nil {
		_ = conn.Close()
		return err
	}
	sess, err := j.client.connSessions.of(j.Context(), conn)
	if err == nil {
		j.txSession.Store(&sess) // from now on escalation ends it too
		err = j.takeLock(pc, sess, begin)
	}
	if err != nil {
		discardConn(conn)
		_ = conn.Close()
		return err
	}
	j.conn, j.pgxConn = conn, pc
	return nil
}

// takeLock makes the session to of pc wait for the job's lock (and then,
// with begin, begin a transaction) and has the locker release the lock to
// that session.
//
// The wait does not end with the job's context: once the locker has
// released the lock to it, the lock must be taken, or no one would hold it
// while the WorkFunc runs on. A shutdown that gives up ends the session
// instead (escalate).
func (j *Job) takeLock(pc *pgx.Conn, to session, begin bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), handoffPatience+finishTimeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(noLockTimeout)
	b.Queue(awaitJobLock, j.ID)
	b.Queue(resetLockTimeout)
	if begin {
		b.Queue("BEGIN")
	}
	got := make(chan error, 1)
	go func() {
		got <- pc.SendBatch(ctx, b).Close()
	}()
	h := j.locker.handOff(j, to)
	select {
	case err := <-h.reply:
		if err != nil {
			cancel() // interrupts the wait, and closes the connection
			<-got
			return fmt.Errorf("qg: hand job %d's lock to its connection: %w", j.ID, err)
		}
		if err := <-got; err != nil {
			return fmt.Errorf("qg: take job %d's lock on its connection: %w", j.ID, err)
		}
	case err := <-got:
		// Granted before the locker answered: the locker's session ended,
		// and its answer says the job is lost. Or the wait failed.
		h.withdraw()
		if err == nil {
			err = <-h.reply
		}
		if err != nil {
			return fmt.Errorf("qg: take job %d's lock on its connection: %w", j.ID, err)
		}
	}
	j.ownLock.Store(to.pid)
	return nil
}

// commitBatch finishes a batch job whose WorkFunc succeeded: without a
// transaction the job is left for the locker to delete with others; with
// one, it is deleted inside it and committed, and a job that is already gone
// (its lock was lost meanwhile) rolls the work back.
func (j *Job) commitBatch() error {
	if j.txErr != nil {
		return j.txErr
	}
	tx, ok := j.tx.(*connTx)
	if !ok && j.holdsOwnLock() {
		return j.deleteOnOwnConn()
	}
	if !ok {
		j.pendingDelete = !j.deleted && !j.errored
		return nil
	}
	j.tx = nil
	ctx, cancel := finishContext()
	defer cancel()
	if !j.deleted && !j.errored {
		query, args := j.d.deleteJob(j, j.holder())
		tag, err := j.pgxConn.Exec(ctx, query, args...)
		if err == nil && tag.RowsAffected() != 1 {
			err = errVanished
		}
		if err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("qg: delete job %d: %w", j.ID, err)
		}
	}
	if err := tx.commit(); err != nil {
		j.deleted, j.errored = false, false
		return fmt.Errorf("qg: commit job %d: %w", j.ID, err)
	}
	j.deleted = true
	return nil
}

// deleteOnOwnConn deletes a batch job whose lock was handed to its
// connection and whose WorkFunc used Conn but no Tx: on that connection,
// before Done unlocks it there (the locker holds nothing to delete it by).
func (j *Job) deleteOnOwnConn() error {
	if j.deleted || j.errored {
		return nil
	}
	ctx, cancel := finishContext()
	defer cancel()
	query, args := j.d.deleteJob(j, j.holder())
	tag, err := j.pgxConn.Exec(ctx, query, args...)
	if err == nil && tag.RowsAffected() != 1 {
		err = errVanished
	}
	if err != nil {
		return fmt.Errorf("qg: delete job %d: %w", j.ID, err)
	}
	j.deleted = true
	return nil
}

// doneBatch is Done for a batch job: its transaction is rolled back if
// still open; its connection goes back to the pool, first unlocking the job
// when the lock was handed to it (it is discarded when that fails); and
// the locker deletes (when pending) and unlocks with others what it holds.
func (j *Job) doneBatch() {
	if j.tx != nil && !j.injectedTx {
		_ = j.tx.Rollback()
		j.tx = nil
	}
	if j.conn != nil {
		keep := !j.isAbandoned() && !j.broken
		if keep && j.ownLock.Load() != 0 && !j.unlocked {
			ctx, cancel := finishContext()
			var unlocked bool
			err := j.pgxConn.QueryRow(ctx, unlockJob, j.ID).Scan(&unlocked)
			cancel()
			keep = err == nil && unlocked
		}
		putBack(j.conn, keep)
	}
	j.locker.finish(j)
}

// buryHeld gives a batch job up while the locker's session holds its lock,
// and returns errLockLost when it no longer does.
func (j *Job) buryHeld(ctx context.Context, query string, args []any) error {
	row, err := j.queryRow(ctx, query, args...)
	if err != nil {
		return err
	}
	var id int64
	if err := row.Scan(&id); isNoRows(err) {
		return errLockLost
	} else if err != nil {
		return err
	}
	return nil
}
