package qg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrPauseUnavailable is wrapped by [Client.PauseQueue] and
// [Client.ResumeQueue] when the Client was made before qg_paused_queues
// existed: run [Migrate], then make a new Client (its workers honour pauses
// from then on).
var ErrPauseUnavailable = errors.New("qg: pausing queues is not available: run qg.Migrate, then make a new Client")

// pauseGuard ends the walk's first step early when its queue ($1) is
// paused: the walk then finds nothing, and a Worker sleeps as on an empty
// queue.
const pauseGuard = ` AND NOT EXISTS (SELECT 1 FROM qg_paused_queues AS paused WHERE paused.queue = $1::text)`

// walkRunnable marks where pauseGuard goes in a walk of either dialect
// (walkSQL): after the runnable condition of its first step, before the
// skip list. Both dialects' walks take their queue as $1.
const walkRunnable = "run_at <= now() AND "

// guardedWalks caches each walk statement with its pause guard.
var guardedWalks sync.Map // string -> string

// walk returns a walk statement of the Client's dialect as the Client runs
// it: with pauseGuard in its first step when qg_paused_queues existed as
// the Client was made, unchanged otherwise.
func (c *Client) walk(query string) string {
	if !c.pausable {
		return query
	}
	if g, ok := guardedWalks.Load(query); ok {
		return g.(string)
	}
	g := query
	if i := strings.Index(query, walkRunnable); i >= 0 {
		i += len(walkRunnable) - len(" AND ")
		g = query[:i] + pauseGuard + query[i:]
	}
	guardedWalks.Store(query, g)
	return g
}

// sideTables says which of the side tables a Client's features need
// exist; a Client looks once, when made.
type sideTables struct {
	pause  bool // qg_paused_queues
	cancel bool // qg_cancelled_jobs
}

// findSideTables looks for the side tables.
func findSideTables(ctx context.Context, q Queryer) (sideTables, error) {
	var s sideTables
	err := q.QueryRowContext(ctx, `SELECT to_regclass('qg_paused_queues') IS NOT NULL,
  to_regclass('qg_cancelled_jobs') IS NOT NULL`).Scan(&s.pause, &s.cancel)
	return s, err
}

// PauseQueue pauses queue: qg's Workers and pools (in every process) lock
// no more of its jobs from their next look on, until [Client.ResumeQueue].
// Jobs running go on to their end, and enqueues go on. Ruby Que's workers
// do not know of pauses and go on working the queue. Pausing a paused
// queue does nothing.
func (c *Client) PauseQueue(ctx context.Context, queue string) error {
	if !c.pausable {
		return fmt.Errorf("qg: pause queue %q: %w", queue, ErrPauseUnavailable)
	}
	_, err := c.pool.ExecContext(ctx, `/* qg:pause_queue */ INSERT INTO qg_paused_queues (queue) VALUES ($1)
ON CONFLICT (queue) DO NOTHING`, queue)
	if err != nil {
		return fmt.Errorf("qg: pause queue %q: %w", queue, err)
	}
	return nil
}

// ResumeQueue ends a pause of queue and wakes the Client's idle workers of
// it; pools with Listen set, in any process, wake too. Resuming a queue
// that is not paused does nothing.
func (c *Client) ResumeQueue(ctx context.Context, queue string) error {
	if !c.pausable {
		return fmt.Errorf("qg: resume queue %q: %w", queue, ErrPauseUnavailable)
	}
	_, err := c.pool.ExecContext(ctx, `/* qg:resume_queue */ WITH resumed AS (
  DELETE FROM qg_paused_queues WHERE queue = $1 RETURNING queue)
SELECT pg_notify('`+notifyChannel+`', queue) FROM resumed WHERE octet_length(queue) < 7000`, queue)
	if err != nil {
		return fmt.Errorf("qg: resume queue %q: %w", queue, err)
	}
	c.wakeups.wake(queue)
	return nil
}

// PausedQueue is a queue paused with [Client.PauseQueue], and since when.
type PausedQueue struct {
	Queue    string    `json:"queue"`
	PausedAt time.Time `json:"paused_at"`
}

// PausedQueues lists the paused queues, by name.
func (c *Client) PausedQueues(ctx context.Context) ([]PausedQueue, error) {
	if !c.pausable {
		return nil, fmt.Errorf("qg: paused queues: %w", ErrPauseUnavailable)
	}
	rows, err := c.pool.QueryContext(ctx, `SELECT queue, paused_at FROM qg_paused_queues ORDER BY queue`)
	if err != nil {
		return nil, fmt.Errorf("qg: paused queues: %w", err)
	}
	defer rows.Close()
	paused := []PausedQueue{}
	for rows.Next() {
		var p PausedQueue
		if err := rows.Scan(&p.Queue, &p.PausedAt); err != nil {
			return nil, fmt.Errorf("qg: paused queues: %w", err)
		}
		paused = append(paused, p)
	}
	return paused, rows.Err()
}
