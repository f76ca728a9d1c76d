package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/stdlib"
)

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
//
// The returned Job keeps the connection that holds the lock, taken out of
// the pool, until [Job.Done]: finish it with [Job.Delete] or [Job.Error],
// then call Done. If the process dies first, PostgreSQL ends the session,
// the lock goes with it and the job is found again by another worker.
func (c *Client) LockJobContext(ctx context.Context, queue string) (*Job, error) {
	return c.lockJob(ctx, queue, (*Job).stillExists)
}

// lockForWork locks a job for a Worker: the existence re-check and the
// BEGIN of the job's transaction share one round trip, and the job comes
// back with its transaction open.
func (c *Client) lockForWork(ctx context.Context, queue string) (*Job, error) {
	return c.lockJob(ctx, queue, (*Job).beginIfExists)
}

// lockJob takes a connection out of the pool, locks a job on it and pins it
// to the job. check runs right after each lock, with a snapshot newer than
// the walk's, and reports whether the job is still there.
func (c *Client) lockJob(ctx context.Context, queue string, check func(*Job, context.Context) (bool, error)) (*Job, error) {
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	conn, err := c.pool.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("qg: lock job in queue %q: get connection: %w", queue, err)
	}
	j, err := c.lockOn(ctx, conn, queue, check)
	if err != nil {
		// A failed statement may still have taken a session lock: drop the
		// session rather than pool a connection that could hold one.
		discardConn(conn)
		_ = conn.Close()
		return nil, fmt.Errorf("qg: lock job in queue %q: %w", queue, err)
	}
	if j == nil {
		putBack(conn, true)
		return nil, nil
	}
	if err := c.track(j); err != nil {
		j.Done()
		return nil, fmt.Errorf("qg: lock job in queue %q: %w", queue, err)
	}
	return j, nil
}

// lockOn walks queue on conn and returns the first job it locked that passed
// check, or nil when the queue has no runnable free job.
func (c *Client) lockOn(ctx context.Context, conn *sql.Conn, queue string, check func(*Job, context.Context) (bool, error)) (*Job, error) {
	pc, err := rawConn(conn)
	if err != nil {
		return nil, err
	}
	for range maxLockAttempts {
		j := &Job{d: c.d, client: c, conn: conn, pgxConn: pc, pid: pc.PgConn().PID()}
		err := c.d.scanJob(conn.QueryRowContext(ctx, c.d.lockJob, queue), j)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		// The walk's snapshot may predate a worker that deleted this job and
		// unlocked it just before our lock: look again with a new snapshot.
		exists, err := check(j, ctx)
		if err != nil {
			return nil, err
		}
		if exists {
			j.ctx, j.cancel = context.WithCancel(c.ctx)
			return j, nil
		}
		var unlocked bool
		if err := conn.QueryRowContext(ctx, c.d.unlockJob, j.ID).Scan(&unlocked); err != nil {
			return nil, err
		}
		if !unlocked {
			return nil, fmt.Errorf("unlock of vanished job %d not confirmed", j.ID)
		}
	}
	return nil, ErrAgain
}

// stillExists re-checks a freshly locked job on its connection.
func (j *Job) stillExists(ctx context.Context) (bool, error) {
	var exists bool
	err := j.conn.QueryRowContext(ctx, j.d.jobExists, j.d.keyArgs(j)...).Scan(&exists)
	return exists, err
}

// rawConn returns the pgx connection under a pinned *sql.Conn.
func rawConn(conn *sql.Conn) (*pgx.Conn, error) {
	var pc *pgx.Conn
	err := conn.Raw(func(dc any) error {
		var err error
		pc, err = pgxConnOf(dc)
		return err
	})
	return pc, err
}

// pgxConnOf returns the pgx connection under a database/sql driver
// connection of the pgx stdlib driver.
func pgxConnOf(dc any) (*pgx.Conn, error) {
	sc, ok := dc.(*stdlib.Conn)
	if !ok {
		return nil, fmt.Errorf("driver connection is %T, not the pgx stdlib driver's", dc)
	}
	return sc.Conn(), nil
}
