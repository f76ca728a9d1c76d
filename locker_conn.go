package qg

import (
	"context"
	"log/slog"
	"time"
)

// connect takes the locker's connection out of the pool when it has none,
// starting a new session generation.
func (l *locker) connect() error {
	if l.conn != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(l.c.ctx, finishTimeout)
	defer cancel()
	conn, err := l.c.pool.Conn(ctx)
	if err != nil {
		return err
	}
	pc, err := rawConn(conn)
	if err != nil {
		_ = conn.Close()
		return err
	}
	l.c.setServerConfig(pc.Config())
	l.conn, l.pc, l.gen = conn, pc, l.gen+1
	l.mu.Lock()
	l.pid = pc.PgConn().PID()
	l.mu.Unlock()
	return nil
}

// disconnect gives the connection back; it holds no lock by then.
func (l *locker) disconnect() {
	if l.conn != nil {
		_ = l.conn.Close()
		l.conn, l.pc = nil, nil
	}
}

// fail drops a session that had an error: closing it releases every lock
// it held, so the jobs it held are cancelled (they may run elsewhere now)
// and those not yet started are dropped.
func (l *locker) fail(err error) {
	if l.logger != nil {
		l.logger.Warn("qg: batch locker lost its session", slog.String("queue", l.queue), slog.Any("error", err))
	}
	if l.conn != nil {
		discardConn(l.conn)
		_ = l.conn.Close()
		l.conn, l.pc = nil, nil
	}
	for _, j := range l.held {
		if j.cancel != nil {
			j.cancel()
		}
	}
	l.held = make(map[int64]*Job)
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
func (l *locker) wait(wake <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.poke:
	case <-wake:
	case <-l.stopping:
	case <-t.C:
	}
}

func (l *locker) idleDelay(idle bool) time.Duration {
	if l.interval <= 0 {
		return defaultInterval
	}
	return l.interval
}

func (l *locker) retryDelay() time.Duration {
	return max(min(l.interval, time.Second), 50*time.Millisecond)
}

// finish takes a job whose Done ran; called from any goroutine.
func (l *locker) finish(j *Job) {
	l.mu.Lock()
	delete(l.running, j)
	l.finished = append(l.finished, j)
	l.mu.Unlock()
	select {
	case l.poke <- struct{}{}:
	default:
	}
}

// takeFinished returns and clears the finished jobs.
func (l *locker) takeFinished() []*Job {
	l.mu.Lock()
	defer l.mu.Unlock()
	done := l.finished
	l.finished = nil
	return done
}

func (l *locker) runningCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.running)
}

func (l *locker) isStopping() bool {
	select {
	case <-l.stopping:
		return true
	default:
		return false
	}
}

// releaseQueued releases, untouched, the jobs locked but not started, and
// closes the workers' channel once (nothing is dispatched after stopping).
func (l *locker) releaseQueued() {
	for {
		select {
		case j, ok := <-l.jobs:
			if !ok {
				return
			}
			j.Done()
		default:
			close(l.jobs)
			return
		}
	}
}

// stop makes the locker lock nothing more; run returns once every job it
// handed out is Done and finished.
func (l *locker) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.stopping:
	default:
		close(l.stopping)
	}
}

// escalate gives up on running jobs: their contexts are cancelled, and the
// locker's session and the sessions of their transactions are ended, so
// every lock goes and the jobs run again elsewhere, unchanged.
func (l *locker) escalate() {
	l.mu.Lock()
	pids := []uint32{l.pid}
	for j := range l.running {
		if !j.claim() {
			continue // released: its Tx's session may serve others now
		}
		if pid := j.txPid.Load(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	l.mu.Unlock()
	l.c.terminate(pids)
}

// heldIDs lists the jobs this session holds, for the walk to skip.
func (l *locker) heldIDs() []int64 {
	ids := make([]int64, 0, len(l.held))
	for id := range l.held {
		ids = append(ids, id)
	}
	return ids
}

// jobIDs lists the ids of jobs.
func jobIDs(jobs []*Job) []int64 {
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}
