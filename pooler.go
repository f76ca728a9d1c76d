package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrSessionPooler is wrapped by LockJob, and by a Worker's or pool's
// attempts to lock, when the *sql.DB's connections do not keep their server
// session from one statement to the next: a pooler such as PgBouncer in
// transaction or statement mode sits between qg and PostgreSQL. A job's
// session advisory lock would then stay on a server session other clients
// use, or vanish, and jobs would run twice; so qg refuses to lock jobs
// there. Point workers at PostgreSQL directly or at a pooler in session
// mode (PgBouncer's pool_mode = session). Enqueueing through a transaction
// pooler works: enqueue-only Clients are never refused.
var ErrSessionPooler = errors.New("qg: the connections do not keep their server session " +
	"(a pooler such as PgBouncer in transaction mode?): session advisory locks cannot hold jobs; " +
	"connect workers directly or through a session-mode pooler")

// sessionProbeTimeout bounds the probe of a Client's connections.
const sessionProbeTimeout = 5 * time.Second

// sessionCheck is the outcome of a Client's probe, taken once.
type sessionCheck struct {
	mu   sync.Mutex
	done bool  // the probe gave an answer
	err  error // nil, or wrapping ErrSessionPooler
}

// checkSessions probes, once per Client, whether its connections keep their
// server session (see [probeSessions]), and returns the error wrapping
// ErrSessionPooler when they do not. A probe that could not conclude (the
// server failed, the pool had no second connection to spare) is tried
// again at the next lock.
func (c *Client) checkSessions(ctx context.Context) error {
	c.sessions.mu.Lock()
	defer c.sessions.mu.Unlock()
	if c.sessions.done {
		return c.sessions.err
	}
	pooled, conclusive, err := probeSessions(ctx, c.pool)
	if err != nil {
		return fmt.Errorf("qg: check the connections' sessions: %w", err)
	}
	if conclusive {
		c.sessions.done = true
	}
	if pooled {
		c.sessions.err = ErrSessionPooler
	}
	return c.sessions.err
}

// probeSessions tells a pooler that hands a client's statements to
// whichever server session is free (transaction or statement pooling) from
// PostgreSQL or a session pooler. It asks connection A for its backend pid,
// then opens a transaction on a second connection B and asks B for its pid,
// then A again. With a session of its own per connection, A's pid never
// changes and B's differs from it. A transaction pooler gives B the server
// session A just left idle (PgBouncer reuses the latest), or A another one
// while B's transaction holds A's old one. pooled says which; conclusive
// is false when the pool could not lend B in time.
func probeSessions(ctx context.Context, db *sql.DB) (pooled, conclusive bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, sessionProbeTimeout)
	defer cancel()
	a, err := db.Conn(ctx)
	if err != nil {
		return false, false, err
	}
	defer a.Close()
	pidA, err := backendPID(ctx, a)
	if err != nil {
		return false, false, err
	}
	if db.Stats().MaxOpenConnections == 1 {
		// No second connection to compare with, ever: taken as direct, and
		// not probed again at each lock.
		return false, true, nil
	}
	lendCtx, cancelLend := context.WithTimeout(ctx, time.Second)
	defer cancelLend()
	b, err := db.Conn(lendCtx)
	if err != nil {
		return false, false, nil // the pool is full: no second connection to compare with
	}
	defer b.Close()
	tx, err := b.BeginTx(ctx, nil)
	if err != nil {
		return false, false, err
	}
	defer tx.Rollback() //nolint:errcheck // only read
	var pidB int
	if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pidB); err != nil {
		return false, false, err
	}
	if pidB == pidA {
		return true, true, nil
	}
	pidA2, err := backendPID(ctx, a)
	if err != nil {
		return false, false, err
	}
	return pidA2 != pidA, true, nil
}

// backendPID is the pid of the server session serving conn's statement.
func backendPID(ctx context.Context, conn *sql.Conn) (int, error) {
	var pid int
	err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid)
	return pid, err
}
