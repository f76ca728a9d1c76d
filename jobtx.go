package qg

import "fmt"

// begin opens the job's transaction on its pinned connection, so the work's
// writes and the job's deletion share one transaction. The transaction lives
// as long as the Client: the job's own deadline ends the WorkFunc's calls,
// not the transaction the failure is recorded after.
func (j *Job) begin() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	tx, err := j.conn.BeginTx(j.client.ctx, nil)
	if err != nil {
		return fmt.Errorf("qg: begin transaction of job %d: %w", j.ID, err)
	}
	j.tx = tx
	return nil
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

// commit finishes a job whose WorkFunc succeeded: it deletes the job in the
// job's transaction, unless the WorkFunc already deleted it or recorded an
// error itself, and commits. A failed commit undoes both the work and the
// deletion, and is returned as the job's error.
func (j *Job) commit() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.tx == nil {
		return nil
	}
	tx := j.tx
	j.tx = nil
	if !j.deleted && !j.errored {
		if _, err := tx.ExecContext(j.client.ctx, j.d.deleteJob, j.d.keyArgs(j)...); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("qg: delete job %d: %w", j.ID, err)
		}
		j.deleted = true
	}
	if err := tx.Commit(); err != nil {
		j.deleted, j.errored = false, false
		return fmt.Errorf("qg: commit job %d: %w", j.ID, err)
	}
	return nil
}

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
