package qg

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v4"
)

// Enqueue inserts j into que_jobs. See [Client.EnqueueContext].
func (c *Client) Enqueue(j *Job) error {
	return c.EnqueueContext(context.Background(), j)
}

// EnqueueContext inserts j into que_jobs. j.Type is required ([ErrMissingType]
// otherwise, unwrapped); j.Args must be valid JSON or empty (stored as []);
// a zero Priority means 100 and a zero RunAt means now(). On success j.ID,
// j.Priority and j.RunAt hold what was stored.
func (c *Client) EnqueueContext(ctx context.Context, j *Job) error {
	if c.isClosed() {
		return ErrClientClosed
	}
	if c.Sync != nil {
		return c.runSync(ctx, j, nil)
	}
	if err := c.enqueue(ctx, c.pool, j); err != nil {
		return err
	}
	c.wakeups.wake(j.Queue)
	return nil
}

// EnqueueInTx inserts j within tx. See [Client.EnqueueInTxContext].
func (c *Client) EnqueueInTx(j *Job, tx *sql.Tx) error {
	return c.EnqueueInTxContext(context.Background(), j, tx)
}

// EnqueueInTxContext inserts j within the caller's transaction tx, so the job
// exists if and only if tx commits. tx may come from any *sql.DB on the same
// database, with or without qg's prepared statements. The rules of
// [Client.EnqueueContext] apply.
func (c *Client) EnqueueInTxContext(ctx context.Context, j *Job, tx *sql.Tx) error {
	if c.isClosed() {
		return ErrClientClosed
	}
	if tx == nil {
		return fmt.Errorf("qg: enqueue in tx: nil *sql.Tx")
	}
	if c.Sync != nil {
		return c.runSync(ctx, j, tx)
	}
	return c.enqueue(ctx, tx, j)
}

// EnqueueIn inserts j through q, with the rules of [Client.EnqueueContext]:
// q may be a *sql.Tx, a *sql.DB, or the Tx of a running job, so a WorkFunc
// can enqueue a follow-up job that commits with its own work:
//
//	err := client.EnqueueIn(j.Context(), &qg.Job{Type: "SendReceipt"}, j.Tx())
func (c *Client) EnqueueIn(ctx context.Context, j *Job, q Queryer) error {
	if c.isClosed() {
		return ErrClientClosed
	}
	if q == nil {
		return fmt.Errorf("qg: enqueue in: nil Queryer")
	}
	if tx, ok := q.(*sql.Tx); ok {
		return c.EnqueueInTxContext(ctx, j, tx)
	}
	if c.Sync != nil {
		return c.runSync(ctx, j, nil)
	}
	return c.enqueue(ctx, q, j)
}

// enqueue inserts j with q, through the Client's EnqueueMiddleware.
func (c *Client) enqueue(ctx context.Context, q Queryer, j *Job) error {
	return c.wrapEnqueue(ctx, []*Job{j}, func(ctx context.Context) error { return c.insertOne(ctx, q, j) })
}

// insertOne validates j and inserts it with q.
func (c *Client) insertOne(ctx context.Context, q Queryer, j *Job) error {
	if err := validateJob(j); err != nil {
		return err
	}
	if err := c.d.checkJob(j); err != nil {
		return err
	}
	if unique, err := c.enqueueUnique(ctx, q, j); unique {
		return err
	}
	query, args := c.d.insertJob(j)
	var err error
	if db, ok := q.(*sql.DB); ok {
		err = onPoolConn(ctx, db, func(pc *pgx.Conn) error {
			return scanInserted(pc.QueryRow(context.Background(), query, args...), j)
		}, func(conn *sql.Conn) error {
			return scanInserted(conn.QueryRowContext(ctx, query, args...), j)
		})
	} else {
		err = scanInserted(q.QueryRowContext(ctx, query, args...), j)
	}
	if err != nil {
		return fmt.Errorf("qg: enqueue %s job in queue %s: %w", quoted(j.Type), quoted(j.Queue), err)
	}
	return nil
}

// scanInserted reads what insertJob returns into j.
func scanInserted(row rowScanner, j *Job) error {
	return row.Scan(&j.ID, &j.Priority, runAtScanner{&j.RunAt})
}

// validateJob checks a job before any SQL runs.
func validateJob(j *Job) error {
	if j == nil {
		return fmt.Errorf("qg: enqueue: nil job")
	}
	if j.Type == "" {
		return ErrMissingType
	}
	for what, s := range map[string]string{"type": j.Type, "queue": j.Queue} {
		if err := checkText(what, s); err != nil {
			return err
		}
	}
	if len(j.Args) > 0 && !json.Valid(j.Args) {
		return fmt.Errorf("%w: %s job: %.64q", ErrInvalidArgs, quoted(j.Type), j.Args)
	}
	return nil
}
