package qg

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// How a batch job's lock moves from the locker's session to the session of
// the job's own connection, when its WorkFunc asks for Job.Tx or Job.Conn.
// The job's connection first waits for the lock (pg_advisory_lock); the
// locker then releases it, but only once the server shows that wait, so
// PostgreSQL grants it to the waiter as part of the release and no other
// session can take the job in between. From then on the job's transaction
// is on the session that holds its lock, as in the default mode: when the
// locker's session ends, the job's lock stays, and no other worker can run
// the job while its transaction may still commit.

// handoffPatience is how long the locker looks for a job's connection
// waiting for the lock before it gives the hand-off up.
const handoffPatience = 5 * time.Second

// handoffRetry is how soon the locker looks again for a waiter it did not
// see yet (its lock request may still be on the way to the server).
const handoffRetry = 250 * time.Microsecond

// errHandoffNoWaiter says the locker never saw the job's connection wait
// for the lock: the locker keeps it.
var errHandoffNoWaiter = errors.New("qg: hand the job's lock over: its connection was not seen waiting for it")

// handoff is a job's request for its lock to go to the session to.
type handoff struct {
	j         *Job
	to        session
	deadline  time.Time
	reply     chan error  // capacity 1: the locker never blocks on it
	withdrawn atomic.Bool // the job stopped waiting: answer without asking
}

// withdraw tells the locker the job's connection no longer waits: the
// request is answered without a round trip.
func (h *handoff) withdraw() { h.withdrawn.Store(true) }

// handOff asks the locker to release j's lock to the session to, which is
// waiting for it. The locker answers on the request's reply once it has
// (nil) or will not: within handoffPatience, or when its session fails.
func (l *locker) handOff(j *Job, to session) *handoff {
	h := &handoff{j: j, to: to, deadline: time.Now().Add(handoffPatience), reply: make(chan error, 1)}
	l.mu.Lock()
	l.handoffs = append(l.handoffs, h)
	l.mu.Unlock()
	l.pokeRun()
	return h
}

// pokeRun wakes the locker's loop.
func (l *locker) pokeRun() {
	select {
	case l.poke <- struct{}{}:
	default:
	}
}

// takeHandoffs returns and clears the pending hand-off requests.
func (l *locker) takeHandoffs() []*handoff {
	l.mu.Lock()
	defer l.mu.Unlock()
	hs := l.handoffs
	l.handoffs = nil
	return hs
}

// handoffsPending reports whether a request waits for a retry.
func (l *locker) handoffsPending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.handoffs) > 0
}

// serveHandoffs hands over, in one round trip, the locks of the jobs whose
// connections wait for them; a request whose waiter is not seen yet is put
// back for the next cycle, until its deadline. A job this session no longer
// holds is refused with errLockLost.
func (l *locker) serveHandoffs() error {
	hs := l.takeHandoffs()
	if len(hs) == 0 {
		return nil
	}
	var ask []*handoff
	for _, h := range hs {
		switch {
		case l.conn == nil || !l.holds(h.j):
			h.reply <- errLockLost
		case h.withdrawn.Load():
			h.reply <- errHandoffNoWaiter // the locker keeps the lock
		default:
			ask = append(ask, h)
		}
	}
	if len(ask) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(l.c.ctx, finishTimeout)
	defer cancel()
	released, err := l.releaseTo(ctx, ask)
	if err != nil {
		l.requeueHandoffs(ask) // fail answers them: the session is dropped
		return fmt.Errorf("hand job locks over: %w", err)
	}
	l.checked = time.Now()
	var later []*handoff
	for _, h := range ask {
		switch {
		case released[h.j.ID]:
			delete(l.held, h.j.ID)
			h.reply <- nil
		case time.Now().After(h.deadline):
			h.reply <- errHandoffNoWaiter
		default:
			later = append(later, h)
		}
	}
	l.requeueHandoffs(later)
	return nil
}

// releaseTo runs handOffJobs for the requests and returns the ids released.
func (l *locker) releaseTo(ctx context.Context, hs []*handoff) (map[int64]bool, error) {
	ids := make([]int64, len(hs))
	pids := make([]int32, len(hs))
	for i, h := range hs {
		ids[i], pids[i] = h.j.ID, int32(h.to.pid)
	}
	rows, err := l.pc.Query(ctx, handOffJobs, ids, pids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	released := make(map[int64]bool, len(hs))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		released[id] = true
	}
	return released, rows.Err()
}

// requeueHandoffs queues requests again, before any that came meanwhile.
func (l *locker) requeueHandoffs(hs []*handoff) {
	if len(hs) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handoffs = append(hs, l.handoffs...)
}

// refuseHandoffs answers every pending request with errLockLost: the
// session that held their locks is gone.
func (l *locker) refuseHandoffs() {
	for _, h := range l.takeHandoffs() {
		h.reply <- errLockLost
	}
}
