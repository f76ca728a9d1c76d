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
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	conn, err := c.pool.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("qg: lock job in queue %q: get connection: %w", queue, err)
	}
	j, err := c.lockOn(ctx, conn, queue)
	if err != nil {
		// A failed statement may still have taken a session lock: drop the
		// session rather than pool a connection that could hold one.
		discardConn(conn)
		_ = conn.Close()
		return nil, fmt.Errorf("qg: lock job in queue %q: %w", queue, err)
	}
	if j == nil {
		_ = conn.Close()
		return nil, nil
	}
	if err := c.pin(j, conn); err != nil {
		j.Done()
		return nil, fmt.Errorf("qg: lock job in queue %q: %w", queue, err)
	}
	return j, nil
}

// lockOn walks queue on conn and returns the first job it locked that still
// exists, or nil when the queue has no runnable free job.
func (c *Client) lockOn(ctx context.Context, conn *sql.Conn, queue string) (*Job, error) {
	for range maxLockAttempts {
		j := &Job{d: c.d}
		err := c.d.scanJob(conn.QueryRowContext(ctx, c.d.lockJob, queue), j)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		// The walk's snapshot may predate a worker that deleted this job and
		// unlocked it just before our lock: look again with a new snapshot.
		var exists bool
		if err := conn.QueryRowContext(ctx, c.d.jobExists, c.d.keyArgs(j)...).Scan(&exists); err != nil {
			return nil, err
		}
		if exists {
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

// pin attaches the locked connection to j and records j in the client, so
// Close can release it.
func (c *Client) pin(j *Job, conn *sql.Conn) error {
	j.client = c
	j.conn = conn
	err := conn.Raw(func(dc any) error {
		pc, err := pgxConnOf(dc)
		j.pgxConn = pc
		return err
	})
	if err != nil {
		return err
	}
	j.pid = j.pgxConn.PgConn().PID()
	j.ctx, j.cancel = context.WithCancel(c.ctx)
	return c.track(j)
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
