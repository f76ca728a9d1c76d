package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v4"
)

// How a job is locked: the walk for LockJob, and for a Worker the walk with
// BEGIN and the re-check in one round trip.

// maxLockAttempts is how often LockJob walks again after locking a job that
// turned out to be gone, before it returns ErrAgain.
const maxLockAttempts = 10

// LockJob locks the next runnable job of queue. See [Client.LockJobContext].
func (c *Client) LockJob(queue string) (*Job, error) {
	return c.LockJobContext(context.Background(), queue)
}

// LockJobContext finds the next runnable job of queue, in (priority, run_at,
// job_id) order, skipping jobs other sessions are working, and takes its
// session advisory lock. It returns nil, nil when no job is runnable.
// It also passes over the jobs this Client holds and has not yet called
// Done on, even one whose session the server has ended: its WorkFunc may
// still be running, and another process may take it, but not this one.
//
// The returned Job keeps the connection that holds the lock, taken out of
// the pool, until [Job.Done]: finish it with [Job.Delete] or [Job.Error],
// then call Done. If the process dies first, PostgreSQL ends the session,
// the lock goes with it and the job is found again by another worker.
func (c *Client) LockJobContext(ctx context.Context, queue string) (*Job, error) {
	return c.lockJob(ctx, queue, (*Job).walkThenCheck)
}

// lockForWork locks a job for a Worker, with the job's transaction open:
// see [Job.walkInTx].
func (c *Client) lockForWork(ctx context.Context, queue string) (*Job, error) {
	if c.walkApart.Load() || c.otherDriver != "" {
		return c.lockJob(ctx, queue, (*Job).walkThenBegin)
	}
	return c.lockJob(ctx, queue, (*Job).walkInTx)
}

// lockAttempt walks a queue on j's connection and fills j with the job it
// locked. found is false when the walk locked nothing; exists says whether
// the locked job was still there when looked at with a snapshot newer than
// the walk's. The walk's snapshot may predate a worker that deleted the job
// and unlocked it just before our lock.
type lockAttempt func(j *Job, ctx context.Context, queue string) (found, exists bool, err error)

// lockJob takes a connection out of the pool, locks a job on it with
// attempt and pins it to the job.
func (c *Client) lockJob(ctx context.Context, queue string, attempt lockAttempt) (*Job, error) {
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	if err := c.checkSessions(ctx); err != nil {
		return nil, wrap(fmt.Sprintf("qg: lock job in queue %q", queue), err)
	}
	conn, err := c.pool.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("qg: lock job in queue %s: get connection: %w", quoted(queue), err)
	}
	j, err := c.lockOn(ctx, conn, queue, attempt)
	if err != nil {
		// A failed statement may still have taken a session lock: drop the
		// session rather than pool a connection that could hold one.
		discardConn(conn)
		_ = conn.Close()
		return nil, wrap(fmt.Sprintf("qg: lock job in queue %s", quoted(queue)), err)
	}
	if j == nil {
		putBack(conn, true)
		return nil, nil
	}
	if err := c.track(j); err != nil {
		j.Done()
		return nil, wrap(fmt.Sprintf("qg: lock job in queue %s", quoted(queue)), err)
	}
	return j, nil
}

// lockOn walks queue on conn and returns the first job it locked that was
// still there, or nil when the queue has no runnable free job.
func (c *Client) lockOn(ctx context.Context, conn *sql.Conn, queue string, attempt lockAttempt) (*Job, error) {
	var pc *pgx.Conn // nil on another driver: statements go through conn
	if c.otherDriver == "" {
		var err error
		if pc, err = rawConn(conn); err != nil {
			return nil, err
		}
	}
	sess, err := c.connSessions.of(ctx, conn)
	if err != nil {
		return nil, err
	}
	for range maxLockAttempts {
		j := &Job{d: c.d, client: c, conn: conn, pgxConn: pc, sess: sess}
		found, exists, err := attempt(j, ctx, queue)
		if err != nil || !found {
			return nil, err
		}
		if exists {
			j.ctx, j.cancel = context.WithCancel(c.ctx)
			return j, nil
		}
		if err := j.unlockVanished(ctx); err != nil {
			return nil, err
		}
	}
	return nil, ErrAgain
}

// walkThenCheck is LockJob's attempt: the walk, then the re-check, in two
// round trips and outside any transaction.
func (j *Job) walkThenCheck(ctx context.Context, queue string) (found, exists bool, err error) {
	found, err = j.walk(ctx, queue)
	if err != nil || !found {
		return false, false, err
	}
	query, args := j.d.jobExists(j)
	err = j.conn.QueryRowContext(ctx, query, args...).Scan(&exists)
	return true, exists, err
}

// walk runs lockJob, outside any transaction, and fills j with the job it
// locked; found is false when it locked none.
func (j *Job) walk(ctx context.Context, queue string) (found bool, err error) {
	query, args := j.d.lockJob(queue, j.client.heldIDs())
	err = j.d.scanJob(j.conn.QueryRowContext(ctx, j.client.walk(query), j.client.portable(args)...), j)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// unlockVanished gives back the lock of a job that was gone once locked.
func (j *Job) unlockVanished(ctx context.Context) error {
	var unlocked bool
	if err := j.conn.QueryRowContext(ctx, unlockJob, j.ID).Scan(&unlocked); err != nil {
		return err
	}
	if !unlocked {
		return fmt.Errorf("unlock of vanished job %d not confirmed", j.ID)
	}
	return nil
}

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
	b.Queue(j.client.walk(query), args...)
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
	if j.pgxConn == nil {
		return j.beginIfExistsApart(ctx)
	}
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

// beginIfExistsApart is beginIfExists on another driver, in two round
// trips: BEGIN, then the re-check.
func (j *Job) beginIfExistsApart(ctx context.Context) (bool, error) {
	if _, err := j.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return false, fmt.Errorf("begin job %d: %w", j.ID, err)
	}
	var exists bool
	query, args := j.d.jobExists(j)
	if err := j.conn.QueryRowContext(ctx, query, j.client.portable(args)...).Scan(&exists); err != nil {
		return false, fmt.Errorf("begin job %d: %w", j.ID, err)
	}
	if !exists {
		_, err := j.conn.ExecContext(ctx, "ROLLBACK")
		return false, err
	}
	j.tx = &connTx{conn: j.conn}
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
