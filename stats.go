package qg

import (
	"context"
	"fmt"
	"time"
)

// JobStats counts the jobs of one queue and job class.
type JobStats struct {
	Queue             string
	Type              string
	Count             int       // jobs in que_jobs
	CountWorking      int       // jobs locked by a worker right now
	CountErrored      int       // jobs that failed at least once
	HighestErrorCount int       // the largest error_count
	OldestRunAt       time.Time // the earliest run_at
}

// Stats counts jobs per queue and job class. See [Client.StatsContext].
func (c *Client) Stats() ([]JobStats, error) {
	return c.StatsContext(context.Background())
}

// StatsContext counts jobs per queue and job class, ordered by queue and
// class. A job counts as working while a session of this database holds its
// job lock, whoever took it (a Go or a Ruby worker).
func (c *Client) StatsContext(ctx context.Context) ([]JobStats, error) {
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	rows, err := c.pool.QueryContext(ctx, c.d.stats())
	if err != nil {
		return nil, fmt.Errorf("qg: stats: %w", err)
	}
	defer rows.Close()
	var stats []JobStats
	for rows.Next() {
		var s JobStats
		if err := rows.Scan(&s.Queue, &s.Type, &s.Count, &s.CountWorking,
			&s.CountErrored, &s.HighestErrorCount, runAtScanner{&s.OldestRunAt}); err != nil {
			return nil, fmt.Errorf("qg: stats: %w", err)
		}
		stats = append(stats, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("qg: stats: %w", err)
	}
	return stats, nil
}
