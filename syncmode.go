package qg

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// runSync works j in the caller instead of inserting it, for a Client whose
// Sync map is set. The WorkFunc runs in tx when the caller gave one, else in
// a transaction of its own that commits on success; its error, or a panic
// as a *PanicError, is returned.
func (c *Client) runSync(ctx context.Context, j *Job, tx *sql.Tx) error {
	if err := validateJob(j); err != nil {
		return err
	}
	wf, ok := workFuncFor(c.Sync, j)
	if !ok {
		return fmt.Errorf("%w %s: no WorkFunc in the Client's Sync map", ErrUnknownType, quoted(j.Type))
	}
	if j.Priority == 0 {
		j.Priority = 100
	}
	if j.RunAt.IsZero() {
		j.RunAt = time.Now()
	}
	if len(j.Args) == 0 {
		j.Args = []byte("[]")
	}
	j.d, j.ctx, j.sync = c.d, ctx, true
	if tx != nil {
		j.tx, j.injectedTx = tx, true
		return callWorkFunc(wf, j)
	}
	own, err := c.pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("qg: run %s job synchronously: begin: %w", quoted(j.Type), err)
	}
	j.tx, j.injectedTx = own, true
	if err := callWorkFunc(wf, j); err != nil {
		_ = own.Rollback()
		return err
	}
	if err := own.Commit(); err != nil {
		return fmt.Errorf("qg: run %s job synchronously: commit: %w", quoted(j.Type), err)
	}
	return nil
}
