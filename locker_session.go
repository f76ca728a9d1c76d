package qg

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// The batch locker's session: the connection that holds every lock of its
// jobs, how it is taken, checked, dropped after an error and given up, and
// the locker's waits between its round trips.

// heartbeat is the longest a batch locker holding jobs goes without a round
// trip on its session, so it notices within about that long that the server
// ended the session (and with it every lock it held).
const heartbeat = time.Second

// pingTimeout bounds the locker's check of its session.
const pingTimeout = 10 * time.Second

// connect takes the locker's connection out of the pool when it has none,
// starting a new session generation.
func (l *locker) connect() error {
	if l.conn != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(l.c.ctx, finishTimeout)
	defer cancel()
	if err := l.c.checkSessions(ctx); err != nil {
		return err
	}
	conn, err := l.c.pool.Conn(ctx)
	if err != nil {
		return err
	}
	pc, err := rawConn(conn)
	if err != nil {
		_ = conn.Close()
		return err
	}
	sess, err := l.c.connSessions.of(ctx, conn)
	if err != nil {
		discardConn(conn)
		_ = conn.Close()
		return err
	}
	l.c.setServerConfig(pc.Config())
	l.conn, l.pc, l.gen, l.checked = conn, pc, l.gen+1, time.Now()
	l.mu.Lock()
	l.sess = sess
	l.mu.Unlock()
	return nil
}

// disconnect ends the locker's session when the locker stops; it holds no
// lock by then. The connection is discarded, never pooled: escalate or
// Client.Close may have picked its pid to terminate, and once pooled the
// termination would hit whoever used it next. A locker connects once per
// pool run, so the new connection this costs later is nothing.
func (l *locker) disconnect() {
	if l.conn == nil {
		return
	}
	l.mu.Lock()
	l.sess = session{}
	l.mu.Unlock()
	discardConn(l.conn)
	_ = l.conn.Close()
	l.conn, l.pc = nil, nil
}

// fail drops a session that had an error: closing it releases every lock
// it held, so the jobs it held are lost. They may run elsewhere now: each is
// abandoned (a failure of its run is not recorded, see Worker.work) and
// cancelled, and those not yet started are dropped.
func (l *locker) fail(err error) {
	logProblem(l.logger, slog.LevelWarn, "qg: batch locker lost its session", slog.String("queue", l.queue),
		slog.Int("jobs_lost", len(l.held)), slog.Any("error", err))
	if l.conn != nil {
		discardConn(l.conn)
		_ = l.conn.Close()
		l.conn, l.pc = nil, nil
		l.mu.Lock()
		l.sess = session{}
		l.mu.Unlock()
	}
	for _, j := range l.held {
		j.claim() // cancels it; a job already released needs nothing
	}
	l.held = make(map[int64]*Job)
	l.refuseHandoffs()
	for {
		select {
		case j, ok := <-l.jobs:
			if !ok {
				return
			}
			j.Done()
		default:
			return
		}
	}
}

// wait sleeps until a finished job, a wake-up of the queue, stopping, or d.
// Once stopping, it waits only for a finished job or d: l.stopping stays
// closed, and waiting on it would make run spin until the last job is Done.
// Meanwhile it looks again, every handoffRetry, for the connections of
// pending hand-offs (serveHandoffs alone, not a whole cycle).
func (l *locker) wait(wake <-chan struct{}, d time.Duration) {
	stopping := l.stopping
	if l.isStopping() {
		stopping, wake = nil, nil // a nil channel never fires
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		var retry <-chan time.Time // nil: no hand-off pending
		if l.handoffsPending() {
			retry = time.After(handoffRetry)
		}
		select {
		case <-l.poke:
			return
		case <-wake:
			return
		case <-stopping:
			return
		case <-t.C:
			return
		case <-retry:
			if err := l.serveHandoffs(); err != nil {
				l.fail(err)
				return
			}
		}
	}
}

// waitDelay is how long run sleeps with nothing to do: the pool's
// interval, and at most a heartbeat while the session holds locks, so that
// checkSession notices a lost session in time.
func (l *locker) waitDelay() time.Duration {
	d := l.interval
	if d <= 0 {
		d = defaultInterval
	}
	if len(l.held) > 0 {
		d = min(d, heartbeat)
	}
	return d
}

// checkSession pings the session when it holds locks and had no round trip
// for a waitDelay. Without it, a session the server ended while every worker
// was busy would go unnoticed until a job finished, and the jobs it held
// would run on while other workers lock and run them too.
func (l *locker) checkSession() error {
	if l.conn == nil || len(l.held) == 0 || time.Since(l.checked) < l.waitDelay() {
		return nil
	}
	ctx, cancel := context.WithTimeout(l.c.ctx, pingTimeout)
	defer cancel()
	if err := l.pc.Ping(ctx); err != nil {
		return fmt.Errorf("check the session: %w", err)
	}
	l.checked = time.Now()
	return nil
}

func (l *locker) retryDelay() time.Duration {
	return max(min(l.interval, time.Second), 50*time.Millisecond)
}
