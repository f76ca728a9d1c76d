package qg

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// JobState is what a job is doing, as [Client.ListJobs] reports it. Que's
// table has no state column: the state is read from the row and from the
// locks sessions hold.
type JobState string

// The states of a job, in the order a job usually goes through them.
const (
	JobScheduled JobState = "scheduled" // run_at is in the future; it never failed
	JobReady     JobState = "ready"     // runnable now, waiting for a worker
	JobRunning   JobState = "running"   // a session holds its lock
	JobRetrying  JobState = "retrying"  // failed, waiting for its next try at run_at
	JobDead      JobState = "dead"      // given up: in a queue DeadQueue named
	// JobExpired is a Ruby Que 2.x job given up: expired_at is set, the
	// row stays in its queue and no worker takes it again. It is the 2.x
	// counterpart of JobDead, and a filter on either state chooses the
	// given-up jobs of either table generation.
	JobExpired JobState = "expired"
)

// JobInfo is one job as an operator sees it: the row of que_jobs, its state
// and the server process working it.
type JobInfo struct {
	ID         int64           `json:"job_id"`
	Queue      string          `json:"queue"`
	Priority   int16           `json:"priority"`
	RunAt      time.Time       `json:"run_at"`
	Type       string          `json:"job_class"`
	Args       json.RawMessage `json:"args"`
	ErrorCount int32           `json:"error_count"`
	LastError  *string         `json:"last_error"`
	State      JobState        `json:"state"`
	// WorkerPID is the pid of the server session holding the job's lock
	// (see pg_stat_activity), zero when no session does.
	WorkerPID int `json:"worker_pid,omitempty"`

	// The columns of a Ruby Que 2.x table; on a Que 0.x table, which has
	// none of them, they are nil or zero (its keyword arguments are inside
	// Args, its backtrace inside LastError).

	// Kwargs is the job's keyword arguments (the kwargs column). Nil on 0.x.
	Kwargs json.RawMessage `json:"kwargs,omitempty"`
	// Data is the job's data column, a JSON object (tags and whatever
	// producers put there). Nil on 0.x.
	Data json.RawMessage `json:"data,omitempty"`
	// Tags are the strings of data.tags, in their order; nil when there are
	// none, when data.tags is not an array of strings, and on 0.x.
	Tags []string `json:"tags,omitempty"`
	// LastErrorBacktrace is the last failure's backtrace (LastError holds
	// its message alone on 2.x). Nil when there is none, and on 0.x.
	LastErrorBacktrace *string `json:"last_error_backtrace,omitempty"`
	// ExpiredAt is when Que 2 (or qg) gave the job up; nil while it is not,
	// and on 0.x.
	ExpiredAt *time.Time `json:"expired_at,omitempty"`
	// FinishedAt is when Ruby's finish kept the row as done; nil while it
	// is not, and on 0.x.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// JobSchemaVersion is the row's job_schema_version: 2 for the rows Que
	// 2 and qg work, 1 for rows Que 1.x wrote (a table migrated from 0.x
	// keeps them), which no Client of [NewClient2] works (see
	// [Client.ForJobSchemaVersion]). Zero on 0.x.
	JobSchemaVersion int `json:"job_schema_version,omitempty"`
}

// dataTags are the strings of data's "tags" array, or nil.
func dataTags(data []byte) []string {
	var d struct {
		Tags []string `json:"tags"`
	}
	if json.Unmarshal(data, &d) != nil || len(d.Tags) == 0 {
		return nil
	}
	return d.Tags
}

// JobFilter chooses the jobs [Client.ListJobs] returns. Its zero value is
// the first 100 jobs of every queue, class and state, in job_id order.
type JobFilter struct {
	// Queues keeps the jobs of these queues ("" is the default queue).
	// Empty: every queue.
	Queues []string
	// Types keeps the jobs of these job classes. Empty: every class.
	Types []string
	// State keeps the jobs in this state. Empty: every state. JobDead and
	// JobExpired both choose the given-up jobs, whatever the table's
	// generation.
	State JobState
	// AfterID keeps the jobs whose job_id is greater: pass the last ID of a
	// page to get the next one (keyset paging). Zero: from the first job.
	AfterID int64
	// Limit is the most jobs returned. Zero means 100.
	Limit int
}

// defaultListLimit is a JobFilter's Limit when zero.
const defaultListLimit = 100

// ListJobs returns the jobs f chooses, in job_id order. A page shorter than
// the limit is the last one.
func (c *Client) ListJobs(ctx context.Context, f JobFilter) ([]JobInfo, error) {
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	queues, types := f.Queues, f.Types
	if queues == nil {
		queues = []string{}
	}
	if types == nil {
		types = []string{}
	}
	query, args := c.d.listJobs(queues, types, f.AfterID, string(f.State), limit)
	rows, err := c.pool.QueryContext(ctx, query, c.portable(args)...)
	if err != nil {
		return nil, fmt.Errorf("qg: list jobs: %w", err)
	}
	defer rows.Close()
	jobs := []JobInfo{}
	for rows.Next() {
		var info JobInfo
		if err := c.d.scanJobInfo(rows, &info); err != nil {
			return nil, fmt.Errorf("qg: list jobs: %w", err)
		}
		jobs = append(jobs, info)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("qg: list jobs: %w", err)
	}
	return jobs, nil
}

// FindJob returns job id, whole, or an error wrapping [ErrJobNotFound].
func (c *Client) FindJob(ctx context.Context, id int64) (*JobInfo, error) {
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	var info JobInfo
	query, args := c.d.findJob(id)
	err := c.d.scanJobInfo(c.pool.QueryRowContext(ctx, query, c.portable(args)...), &info)
	switch {
	case isNoRows(err):
		return nil, fmt.Errorf("qg: find job %d: %w", id, ErrJobNotFound)
	case err != nil:
		return nil, fmt.Errorf("qg: find job %d: %w", id, err)
	}
	return &info, nil
}

// DeleteJob removes job id from que_jobs without running it. A job being
// worked is left alone and the error wraps [ErrJobRunning]; a missing one
// wraps [ErrJobNotFound].
func (c *Client) DeleteJob(ctx context.Context, id int64) error {
	query, args := c.d.deleteByID(id)
	return c.changeByID(ctx, "delete", id, query, args)
}

// RetryJob makes job id run now: its run_at becomes now(), and a given-up
// job moves from its dead-letter queue back to its queue. Its error_count
// and last_error stay, for the record. A job being worked is left alone and
// the error wraps [ErrJobRunning]; a missing one wraps [ErrJobNotFound].
func (c *Client) RetryJob(ctx context.Context, id int64) error {
	query, args := c.d.retryByID(id)
	return c.changeByID(ctx, "retry", id, query, args)
}

// changeByID runs one of the dialect's by-id statements, which answer
// whether the job was free and whether they changed it.
func (c *Client) changeByID(ctx context.Context, what string, id int64, query string, args []any) error {
	if c.isClosed() {
		return ErrClientClosed
	}
	var free, changed bool
	err := c.pool.QueryRowContext(ctx, query, c.portable(args)...).Scan(&free, &changed)
	switch {
	case isNoRows(err):
		return fmt.Errorf("qg: %s job %d: %w", what, id, ErrJobNotFound)
	case err != nil:
		return fmt.Errorf("qg: %s job %d: %w", what, id, err)
	case !free:
		return fmt.Errorf("qg: %s job %d: %w", what, id, ErrJobRunning)
	case !changed: // it moved between the look-up and the change
		return fmt.Errorf("qg: %s job %d: it changed meanwhile; try again: %w", what, id, ErrJobRunning)
	}
	return nil
}

// SnoozeJob puts job id off: its run_at becomes now() + d, and its
// error_count and last_error stay. A job being worked is left alone and the
// error wraps [ErrJobRunning] (its WorkFunc may return [Snooze] itself); a
// missing one wraps [ErrJobNotFound].
func (c *Client) SnoozeJob(ctx context.Context, id int64, d time.Duration) error {
	query, args := c.d.snoozeByID(id, max(d, 0))
	return c.changeByID(ctx, "snooze", id, query, args)
}
