package qg

import (
	"context"
	"fmt"
	"math"
	"time"
)

// QueueCounts counts the jobs of one queue and job class by what they are
// doing, as [Client.Overview] reports them. A given-up job counts under the
// queue it was given up from, not its dead-letter queue ([DeadQueue]).
type QueueCounts struct {
	Queue     string
	Type      string
	Ready     int // runnable now and free: waiting for a worker
	Scheduled int // free, with run_at in the future (retries included)
	Working   int // locked by a session (a Go or a Ruby worker) right now
	Failing   int // failed at least once and not given up (working or not)
	GivenUp   int // moved to the queue's dead-letter queue
	// Expired is the jobs Que 2.x expired (expired_at set); always zero on
	// a Que 0.x table, which has no such column.
	Expired int
	// OldestReadyAge is how long the oldest ready job has been runnable
	// (now minus its run_at); zero when none is ready.
	OldestReadyAge time.Duration
	// Finished is the Que 2.x rows Ruby's finish kept (finished_at set);
	// always zero on a Que 0.x table.
	Finished int
	// OtherVersion is the free Que 2.x rows, neither finished nor
	// expired, of a job_schema_version other than 2: rows Que 1.x wrote,
	// which neither Que 2 nor qg's workers take (see
	// [Client.ForJobSchemaVersion]); they are in neither Ready nor
	// Scheduled. Always zero on a Que 0.x table.
	OtherVersion int
}

// Overview counts the jobs of every queue and job class by state, ordered by
// queue and class, in one pass over que_jobs. Ready, Scheduled, Working,
// GivenUp, Expired, Finished and OtherVersion together count every row.
// Like [Client.StatsContext], a job counts as working while any session of
// this database holds its lock; the locks are read just before the rows.
func (c *Client) Overview(ctx context.Context) ([]QueueCounts, error) {
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	locked, err := c.lockedJobIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("qg: overview: %w", err)
	}
	query, args := c.d.overview(locked)
	rows, err := c.pool.QueryContext(ctx, query, c.portable(args)...)
	if err != nil {
		return nil, fmt.Errorf("qg: overview: %w", err)
	}
	defer rows.Close()
	counts := []QueueCounts{}
	for rows.Next() {
		var q QueueCounts
		var age float64
		if err := rows.Scan(&q.Queue, &q.Type, &q.Ready, &q.Scheduled, &q.Working,
			&q.Failing, &q.GivenUp, &q.Expired, &age, &q.Finished, &q.OtherVersion); err != nil {
			return nil, fmt.Errorf("qg: overview: %w", err)
		}
		q.OldestReadyAge = secondsDuration(age)
		counts = append(counts, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("qg: overview: %w", err)
	}
	return counts, nil
}

// secondsDuration converts seconds to a Duration, the largest one for an
// age beyond its range (a run_at of -infinity).
func secondsDuration(s float64) time.Duration {
	if s >= float64(math.MaxInt64)/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	if s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// lockedJobIDsSQL lists the ids of the jobs whose lock a session of this
// database holds (both table generations key the lock by the job's id).
const lockedJobIDsSQL = `/* qg:locked_job_ids */ SELECT DISTINCT (classid::bigint << 32) + objid::bigint
FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`

// lockedJobIDs reads the ids of the jobs sessions hold, for Overview: a
// parameter there, not a join with pg_locks (which PostgreSQL never reads
// in parallel), so the count over the rows can run in parallel.
func (c *Client) lockedJobIDs(ctx context.Context) ([]int64, error) {
	rows, err := c.pool.QueryContext(ctx, lockedJobIDsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
