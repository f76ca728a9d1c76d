package qg

import (
	"context"
	"database/sql"
	"fmt"
)

// EnqueueBatch inserts jobs into que_jobs in one statement and one round
// trip. See [Client.EnqueueBatchInTx] for the rules.
func (c *Client) EnqueueBatch(ctx context.Context, jobs []*Job) error {
	if c.isClosed() {
		return ErrClientClosed
	}
	if c.Sync != nil {
		return c.runSyncBatch(ctx, jobs, nil)
	}
	if err := c.enqueueBatch(ctx, c.pool, jobs); err != nil {
		return err
	}
	c.wakeBatch(jobs)
	return nil
}

// EnqueueBatchInTx inserts jobs within the caller's transaction tx, in one
// statement and one round trip: they exist if and only if tx commits. Every
// job is validated as by [Client.EnqueueContext] before anything is sent;
// one invalid job fails the whole batch. On success each job's ID, Priority
// and RunAt hold what was stored.
func (c *Client) EnqueueBatchInTx(ctx context.Context, jobs []*Job, tx *sql.Tx) error {
	if c.isClosed() {
		return ErrClientClosed
	}
	if tx == nil {
		return fmt.Errorf("qg: enqueue batch in tx: nil *sql.Tx")
	}
	if c.Sync != nil {
		return c.runSyncBatch(ctx, jobs, tx)
	}
	return c.enqueueBatch(ctx, tx, jobs)
}

// enqueueBatch inserts jobs with q, through the Client's EnqueueMiddleware.
func (c *Client) enqueueBatch(ctx context.Context, q Queryer, jobs []*Job) error {
	if len(jobs) == 0 {
		return nil
	}
	return c.wrapEnqueue(ctx, jobs, func(ctx context.Context) error { return c.insertBatch(ctx, q, jobs) })
}

// insertBatch validates jobs and inserts them with q.
func (c *Client) insertBatch(ctx context.Context, q Queryer, jobs []*Job) error {
	for i, j := range jobs {
		if err := validateJob(j); err != nil {
			if err == ErrMissingType {
				return err
			}
			return wrap(fmt.Sprintf("qg: enqueue batch: job %d", i), err)
		}
		if err := c.d.checkJob(j); err != nil {
			return fmt.Errorf("qg: enqueue batch: job %d: %w", i, err)
		}
	}
	if unique, err := c.enqueueUniqueBatch(ctx, q, jobs); unique {
		return err
	}
	query, args := c.d.insertJobs(jobs)
	rows, err := q.QueryContext(ctx, query, c.portable(args)...)
	if err != nil {
		return fmt.Errorf("qg: enqueue batch of %d jobs: %w", len(jobs), err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next() && i < len(jobs); i++ {
		j := jobs[i]
		if err := rows.Scan(&j.ID, &j.Priority, runAtScanner{&j.RunAt}); err != nil {
			return fmt.Errorf("qg: enqueue batch of %d jobs: %w", len(jobs), err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("qg: enqueue batch of %d jobs: %w", len(jobs), err)
	}
	if i != len(jobs) {
		return fmt.Errorf("qg: enqueue batch: %d rows returned for %d jobs", i, len(jobs))
	}
	return nil
}

// wakeBatch wakes the idle workers of every queue the jobs went to.
func (c *Client) wakeBatch(jobs []*Job) {
	woken := make(map[string]bool)
	for _, j := range jobs {
		if !woken[j.Queue] {
			woken[j.Queue] = true
			c.wakeups.wake(j.Queue)
		}
	}
}

// runSyncBatch runs each job's WorkFunc in turn, as Sync mode does for one.
func (c *Client) runSyncBatch(ctx context.Context, jobs []*Job, tx *sql.Tx) error {
	for _, j := range jobs {
		if err := c.runSync(ctx, j, tx); err != nil {
			return err
		}
	}
	return nil
}
