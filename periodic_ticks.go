package qg

import (
	"context"
	"fmt"
	"time"
)

// wrapIf wraps err with format, or returns nil when err is nil.
func wrapIf(format string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format, err)
}

// PeriodicTick is where one periodic job's [Scheduler]s are in its ticks,
// as the qg_periodic table records it.
type PeriodicTick struct {
	Name      string    // the PeriodicJob's Name
	LastTick  time.Time // the latest tick claimed (its job enqueued)
	UpdatedAt time.Time // when it was claimed
}

// PeriodicTicks returns the last tick of every periodic job ever
// registered, ordered by name; none when qg_periodic is missing ([Migrate]
// creates it). The next tick depends on the Schedule, which lives in the
// program that registers it: see [Schedule.Next].
func (c *Client) PeriodicTicks(ctx context.Context) ([]PeriodicTick, error) {
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	ticks := []PeriodicTick{}
	ok, err := c.tableExists(ctx, "qg_periodic")
	if err != nil || !ok {
		return ticks, wrapIf("qg: periodic ticks: %w", err)
	}
	rows, err := c.pool.QueryContext(ctx, periodicTicksSQL)
	if err != nil {
		return nil, fmt.Errorf("qg: periodic ticks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t PeriodicTick
		if err := rows.Scan(&t.Name, runAtScanner{&t.LastTick}, runAtScanner{&t.UpdatedAt}); err != nil {
			return nil, fmt.Errorf("qg: periodic ticks: %w", err)
		}
		ticks = append(ticks, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("qg: periodic ticks: %w", err)
	}
	return ticks, nil
}

// periodicTicksSQL reads qg_periodic.
const periodicTicksSQL = `/* qg:periodic_ticks */ SELECT name, last_tick, updated_at FROM qg_periodic ORDER BY name`

// tableExistsSQL says whether table $1 is on the search_path.
const tableExistsSQL = `/* qg:table_exists */ SELECT to_regclass($1::text) IS NOT NULL`

// tableExists reports whether the optional table name (qg_periodic,
// qg_unique) is there.
func (c *Client) tableExists(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := c.pool.QueryRowContext(ctx, tableExistsSQL, name).Scan(&ok)
	return ok, err
}
