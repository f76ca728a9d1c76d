package qg

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v4"
)

// InstallNotifyTrigger installs an insert trigger on que_jobs that sends a
// notification for every job runnable at once, whoever inserts it (a Ruby
// producer included). Pools with Listen set wake on it. It is never
// installed by default; it is idempotent, and [RemoveNotifyTrigger] removes
// it. Ruby Que 0.x ignores the trigger.
func InstallNotifyTrigger(ctx context.Context, db *sql.DB) error {
	d, err := installDialect(ctx, db)
	if err != nil {
		return fmt.Errorf("qg: install notify trigger: %w", err)
	}
	if _, err := db.ExecContext(ctx, d.installNotify()); err != nil {
		return fmt.Errorf("qg: install notify trigger: %w", err)
	}
	return nil
}

// RemoveNotifyTrigger removes the trigger InstallNotifyTrigger installed,
// if it is there.
func RemoveNotifyTrigger(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, dialectOr0(ctx, db).removeNotify()); err != nil {
		return fmt.Errorf("qg: remove notify trigger: %w", err)
	}
	return nil
}

// listener holds one LISTEN connection, outside the pool, and wakes the idle
// workers of its queue on each notification for it. It reconnects after
// any error until stopped.
type listener struct {
	c      *Client
	queue  string
	retry  time.Duration
	logger *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// checked is set once the notify trigger was looked for.
	checked atomic.Bool
}

// startListener starts a listener for queue.
func startListener(c *Client, queue string, interval time.Duration, logger *slog.Logger) *listener {
	ctx, cancel := context.WithCancel(c.ctx)
	l := &listener{c: c, queue: queue, retry: min(max(interval, 100*time.Millisecond), time.Second),
		logger: logger, cancel: cancel}
	l.wg.Add(1)
	go l.run(ctx)
	return l
}

// stop ends the listener and waits for its goroutine.
func (l *listener) stop() {
	l.cancel()
	l.wg.Wait()
}

// run listens until ctx ends, reconnecting after errors.
func (l *listener) run(ctx context.Context) {
	defer l.wg.Done()
	for ctx.Err() == nil {
		err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		logProblem(l.logger, slog.LevelWarn, "qg: listen for jobs", slog.String("queue", l.queue), slog.Any("error", err))
		// Jobs inserted while disconnected are found by polling; wake the
		// workers once in case some were.
		l.c.wakeups.wake(l.queue)
		select {
		case <-ctx.Done():
		case <-time.After(l.retry):
		}
	}
}

// listen connects, LISTENs and wakes workers until an error or ctx ends.
func (l *listener) listen(ctx context.Context) error {
	config, err := l.c.serverConfig(ctx)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	l.checkSource(ctx, conn)
	if _, err := conn.Exec(ctx, "LISTEN "+l.c.d.listenChannel()); err != nil {
		return err
	}
	l.c.wakeups.wake(l.queue) // catch up on what came before LISTEN
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if l.c.d.wakes(n.Payload, l.queue) {
			l.c.wakeups.wake(l.queue)
		}
	}
}

// checkSource warns, once per listener, when no trigger on que_jobs sends
// the notifications it listens for: the pool then only polls.
func (l *listener) checkSource(ctx context.Context, conn *pgx.Conn) {
	if l.checked.Load() {
		return
	}
	var installed bool
	if err := conn.QueryRow(ctx, l.c.d.notifySource()).Scan(&installed); err != nil {
		return // checked on the next connection
	}
	if !installed {
		logProblem(l.logger, slog.LevelWarn,
			"qg: Listen is set but no trigger on que_jobs sends notifications; workers poll every Interval (install it with qg.InstallNotifyTrigger or `qg enable notify`)",
			slog.String("queue", l.queue))
	}
	l.checked.Store(true)
}

// serverConfig returns how to reach the server outside the pool, taken
// from a connection of the pool the first time.
func (c *Client) serverConfig(ctx context.Context) (*pgx.ConnConfig, error) {
	c.mu.Lock()
	config := c.connConfig
	c.mu.Unlock()
	if config != nil {
		return config, nil
	}
	conn, err := c.pool.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc, err := pgxConnOf(dc)
		if err == nil {
			config = pc.Config()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.connConfig = config
	c.mu.Unlock()
	return config, nil
}
