package qg

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// UniqueKey is one key of the qg_unique table (see [Job.Unique]): held by
// a job still in que_jobs, or kept for its hold after the job finished.
type UniqueKey struct {
	Key   string // the SHA-256 of the key, in hex
	JobID int64  // the job that took it
	// ExpiresAt is when the key frees itself; zero while its job is still
	// in que_jobs.
	ExpiresAt time.Time
}

// UniqueKeys returns up to limit keys of qg_unique (zero: 100), the ones
// held by jobs still queued first, then by expiry; none when unique jobs
// are not enabled (no qg_unique table).
func (c *Client) UniqueKeys(ctx context.Context, limit int) ([]UniqueKey, error) {
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	if limit <= 0 {
		limit = defaultUniqueKeysLimit
	}
	keys := []UniqueKey{}
	ok, err := c.tableExists(ctx, "qg_unique")
	if err != nil || !ok {
		return keys, wrapIf("qg: unique keys: %w", err)
	}
	rows, err := c.pool.QueryContext(ctx, uniqueKeysSQL, limit)
	if err != nil {
		return nil, fmt.Errorf("qg: unique keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k UniqueKey
		var exp sql.NullTime
		if err := rows.Scan(&k.Key, &k.JobID, &exp); err != nil {
			return nil, fmt.Errorf("qg: unique keys: %w", err)
		}
		k.ExpiresAt = exp.Time
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("qg: unique keys: %w", err)
	}
	return keys, nil
}

// defaultUniqueKeysLimit is UniqueKeys' limit when zero.
const defaultUniqueKeysLimit = 100

// uniqueKeysSQL lists the keys of qg_unique that still hold, held first.
const uniqueKeysSQL = `/* qg:unique_keys */ SELECT key, job_id, expires_at FROM qg_unique
WHERE expires_at IS NULL OR expires_at > now()
ORDER BY expires_at NULLS FIRST, job_id
LIMIT $1::int`
