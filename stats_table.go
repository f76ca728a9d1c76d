package qg

import (
	"context"
	"fmt"
)

// TableStats counts the rows of que_jobs that [Client.Stats] leaves out
// because no Worker of the Client takes them. On a Ruby Que 0.x table every
// row is in Stats (given-up jobs under their dead-letter queue) and all
// counts are zero.
type TableStats struct {
	// Finished counts Que 2.x rows with finished_at set (Ruby's finish).
	Finished int
	// Expired counts Que 2.x rows with expired_at set: given up past the
	// retry limit. `qg retry` makes them runnable again.
	Expired int
	// OtherVersion counts Que 2.x rows, neither finished nor expired, of a
	// job_schema_version other than 2: rows Que 1.x enqueued, which Ruby
	// Que 2 and qg leave alone (see [Client.ForJobSchemaVersion]).
	OtherVersion int
	// OtherVersionReady counts those of them that are due now.
	OtherVersionReady int
}

// TableStats counts the rows Stats leaves out. See [Client.TableStatsContext].
func (c *Client) TableStats() (TableStats, error) {
	return c.TableStatsContext(context.Background())
}

// TableStatsContext counts the rows of que_jobs that Stats leaves out.
func (c *Client) TableStatsContext(ctx context.Context) (TableStats, error) {
	var s TableStats
	if c.isClosed() {
		return s, ErrClientClosed
	}
	err := c.pool.QueryRowContext(ctx, c.d.tableStats()).Scan(&s.Finished, &s.Expired,
		&s.OtherVersion, &s.OtherVersionReady)
	if err != nil {
		return s, fmt.Errorf("qg: table stats: %w", err)
	}
	return s, nil
}
