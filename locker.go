package qg

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v4"
)

// locker is the batch path of a WorkerPool (WorkerPool.Batch > 0), in the
// style of Ruby Que 1.x's locker: one connection walks the queue and locks
// up to a batch of jobs at once, holding their session locks while the
// pool's workers run them, and deletes and unlocks finished jobs in batches.
// Only the locker's session holds locks, so a crash of the process still
// releases them all; Ruby Que 0.x workers keep skipping the locked jobs.
//
// A finished job is deleted (in a committed transaction) before its lock is
// released, so no worker can see it runnable and unlocked. A job whose
// WorkFunc uses Job.Tx deletes itself inside that transaction instead.
type locker struct {
	c        *Client
	queue    string
	capacity int // jobs held at most
	workers  int
	interval time.Duration
	logger   *slog.Logger

	jobs     chan *Job     // locked and re-checked, for the workers
	stopping chan struct{} // closed: lock nothing more
	stopped  chan struct{} // closed when run returns

	mu       sync.Mutex
	finished []*Job        // jobs whose Done ran, to delete and unlock
	poke     chan struct{} // signals finished or stopping (capacity 1)
	sess     session       // the current session; zero once given back
	running  map[*Job]bool // jobs handed to workers and not Done
	handoffs []*handoff    // jobs whose connections wait for their locks
	haltErr  stopCause     // why the locker stopped on its own (see halt)

	// Owned by run's goroutine.
	conn    *sql.Conn
	pc      *pgx.Conn
	gen     int            // the session's generation; jobs of older ones lost their lock
	held    map[int64]*Job // locked by this session and not unlocked
	lost    []*Job         // finished jobs of a lost session still to delete
	checked time.Time      // the session's last round trip that worked
}

func newLocker(c *Client, queue string, capacity, workers int, interval time.Duration, logger *slog.Logger) *locker {
	return &locker{c: c, queue: queue, capacity: capacity, workers: workers,
		interval: interval, logger: logger,
		jobs: make(chan *Job, capacity), stopping: make(chan struct{}),
		stopped: make(chan struct{}), poke: make(chan struct{}, 1),
		running: make(map[*Job]bool), held: make(map[int64]*Job)}
}

// run locks, dispatches and finishes jobs until stopped and every job it
// handed out is Done.
func (l *locker) run() {
	defer close(l.stopped)
	defer l.disconnect()
	idle := false
	for {
		stopping := l.isStopping()
		if stopping {
			l.releaseQueued()
		}
		done := l.takeFinished()
		if stopping && len(l.held) == 0 && len(done) == 0 && l.runningCount() == 0 {
			return
		}
		wake := l.c.wakeups.channel(l.queue)
		room := 0
		if !stopping && len(l.jobs) <= l.workers/2 {
			// The walk follows the unlocks in the cycle's pipeline (and
			// skips the jobs it unlocks): their places count as free.
			room = l.capacity - len(l.held) + l.heldAmong(done)
		}
		locked, err := l.cycle(done, room)
		if err != nil {
			if isReadOnly(err) {
				l.halt(fmt.Errorf("%w: %w", ErrReadOnly, err))
			}
			l.fail(err)
			l.wait(wake, l.retryDelay())
			continue
		}
		idle = room > 0 && locked < room
		if (idle || room == 0) && !l.drained() {
			l.wait(wake, l.waitDelay())
		}
	}
}

// drained reports whether the locker is stopping with nothing left to
// finish: run returns then, without waiting out another interval.
func (l *locker) drained() bool {
	return l.isStopping() && len(l.held) == 0 && l.runningCount() == 0
}

// cycle finishes done and locks up to room more jobs, in one pipeline, then
// re-checks and dispatches what it locked.
func (l *locker) cycle(done []*Job, room int) (int, error) {
	if err := l.serveHandoffs(); err != nil {
		return 0, err
	}
	if len(done) == 0 && room == 0 && len(l.lost) == 0 {
		return 0, l.checkSession()
	}
	if err := l.connect(); err != nil {
		for _, j := range done { // only finished work still owes a delete
			if j.pendingDelete {
				l.lost = append(l.lost, j)
			}
		}
		return 0, err
	}
	ctx, cancel := context.WithTimeout(l.c.ctx, finishTimeout)
	defer cancel()
	deletes, unlocks := l.split(done)
	locked, shared, err := l.pipeline(ctx, deletes, unlocks, room)
	if err != nil {
		l.lost = deletes // deletes already holds the earlier lost ones
		return 0, err
	}
	l.lost, l.checked = nil, time.Now()
	for _, j := range unlocks {
		delete(l.held, j.ID)
	}
	fresh, err := l.recheck(ctx, locked, shared)
	if err != nil {
		return 0, err
	}
	l.dispatch(fresh)
	return len(locked), nil
}

// heldAmong counts the jobs of done this session holds, which the next
// cycle unlocks (see split).
func (l *locker) heldAmong(done []*Job) int {
	n := 0
	for _, j := range done {
		if l.holds(j) {
			n++
		}
	}
	return n
}

// holds reports whether this session holds the lock of j.
func (l *locker) holds(j *Job) bool {
	return j.gen == l.gen && l.held[j.ID] == j
}

// split sorts finished jobs into those to delete (with the jobs of a lost
// session still owed a delete) and those to unlock (this session's).
func (l *locker) split(done []*Job) (deletes, unlocks []*Job) {
	deletes = append(deletes, l.lost...)
	for _, j := range done {
		if j.pendingDelete {
			deletes = append(deletes, j)
		}
		if l.holds(j) {
			unlocks = append(unlocks, j)
		}
	}
	return deletes, unlocks
}

// pipeline sends, in one round trip: the deletes in a transaction of their
// own, committed before the unlocks; the unlocks; and the walk for room
// jobs. It returns the jobs the walk locked, and apart those whose job_id
// another row of the walk had (see firstOfEachID).
func (l *locker) pipeline(ctx context.Context, deletes, unlocks []*Job, room int) (locked, shared []*Job, err error) {
	d := l.c.d
	b := &pgx.Batch{}
	if len(deletes) > 0 {
		b.Queue("BEGIN")
		query, args := d.deleteJobs(deletes)
		b.Queue(query, args...)
		b.Queue("COMMIT")
	}
	if len(unlocks) > 0 {
		b.Queue(unlockJobs, jobIDs(unlocks))
	}
	if room > 0 {
		query, args := d.lockJobs(l.queue, room, l.skipIDs())
		b.Queue(l.c.walk(query), args...)
	}
	br := l.pc.SendBatch(ctx, b)
	locked, err = l.readPipeline(br, len(deletes) > 0, len(unlocks) > 0, room > 0)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	locked, shared = firstOfEachID(locked)
	for _, j := range locked {
		l.held[j.ID] = j
	}
	return locked, shared, nil
}

// firstOfEachID splits the rows a walk locked into the first of each
// job_id and the others. Que 0.x's key is the whole primary key, so another
// producer may give rows one job_id; they share one advisory lock, which is
// re-entrant within a session, so one walk locks them all. Only the first
// may run now: the others wait for its lock, as they do in the default
// mode, and each of their extra locks is given back (recheck does).
func firstOfEachID(locked []*Job) (first, shared []*Job) {
	seen := make(map[int64]bool, len(locked))
	for _, j := range locked {
		if seen[j.ID] {
			shared = append(shared, j)
			continue
		}
		seen[j.ID] = true
		first = append(first, j)
	}
	return first, shared
}

// readPipeline reads the results pipeline sent.
func (l *locker) readPipeline(br pgx.BatchResults, deleting, unlocking, locking bool) ([]*Job, error) {
	if deleting {
		for range 3 {
			if _, err := br.Exec(); err != nil {
				return nil, fmt.Errorf("delete finished jobs: %w", err)
			}
		}
	}
	if unlocking {
		rows, err := br.Query()
		if err != nil {
			return nil, fmt.Errorf("unlock finished jobs: %w", err)
		}
		var stray []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err == nil {
				stray = append(stray, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("unlock finished jobs: %w", err)
		}
		if len(stray) > 0 {
			return nil, fmt.Errorf("unlock of jobs %v not confirmed", stray)
		}
	}
	if !locking {
		return nil, nil
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("lock jobs: %w", err)
	}
	defer rows.Close()
	var locked []*Job
	for rows.Next() {
		j := &Job{d: l.c.d}
		if err := l.c.d.scanJob(rows, j); err != nil {
			return locked, fmt.Errorf("lock jobs: %w", err)
		}
		locked = append(locked, j)
	}
	return locked, rows.Err()
}

// recheck keeps the locked jobs that still exist, with a snapshot newer
// than the walk's, and unlocks the others, and once each row of shared (an
// extra lock of a job_id the session holds for another row).
func (l *locker) recheck(ctx context.Context, locked, shared []*Job) ([]*Job, error) {
	if len(shared) > 0 {
		if _, err := l.pc.Exec(ctx, unlockJobs, jobIDs(shared)); err != nil {
			return nil, fmt.Errorf("unlock rows sharing a job_id: %w", err)
		}
	}
	if len(locked) == 0 {
		return nil, nil
	}
	query, args := l.c.d.jobsExist(locked)
	rows, err := l.pc.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("re-check locked jobs: %w", err)
	}
	exists := make(map[int64]bool, len(locked))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err == nil {
			exists[id] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("re-check locked jobs: %w", err)
	}
	var fresh, gone []*Job
	for _, j := range locked {
		if exists[j.ID] {
			fresh = append(fresh, j)
		} else {
			gone = append(gone, j)
		}
	}
	if len(gone) > 0 {
		if _, err := l.pc.Exec(ctx, unlockJobs, jobIDs(gone)); err != nil {
			return nil, fmt.Errorf("unlock vanished jobs: %w", err)
		}
		for _, j := range gone {
			delete(l.held, j.ID)
		}
	}
	return fresh, nil
}

// dispatch hands jobs to the workers. The channel holds capacity jobs and
// never more than capacity are held, so it never blocks.
func (l *locker) dispatch(jobs []*Job) {
	for _, j := range jobs {
		j.client, j.locker, j.gen, j.sess = l.c, l, l.gen, l.sess
		j.ctx, j.cancel = context.WithCancel(l.c.ctx)
		l.mu.Lock()
		l.running[j] = true
		l.mu.Unlock()
		if err := l.c.track(j); err != nil {
			j.Done() // the client closed: released untouched
			continue
		}
		l.jobs <- j
	}
}

// finish takes a job whose Done ran; called from any goroutine.
func (l *locker) finish(j *Job) {
	l.mu.Lock()
	delete(l.running, j)
	l.finished = append(l.finished, j)
	l.mu.Unlock()
	l.pokeRun()
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

// skipIDs lists the jobs the walk must not lock: those this session holds
// (advisory locks are re-entrant, it would lock them again) and those still
// running here from a lost session (this pool would run them twice at once).
func (l *locker) skipIDs() []int64 {
	ids := make([]int64, 0, len(l.held))
	for id := range l.held {
		ids = append(ids, id)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for j := range l.running {
		if l.held[j.ID] != j {
			ids = append(ids, j.ID)
		}
	}
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	return append(ids, l.c.skippedIDs()...) // their failure could not be recorded
}

// jobIDs lists the ids of jobs.
func jobIDs(jobs []*Job) []int64 {
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}
