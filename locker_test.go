package qg

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runBatchPool works queue with a batch pool until done is closed.
func runBatchPool(t *testing.T, c *Client, q string, m WorkMap, workers, batch int, done <-chan struct{}) {
	t.Helper()
	p := NewWorkerPool(c, m, workers)
	p.Queue = q
	p.Interval = 20 * time.Millisecond
	p.Batch = batch
	p.Start()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Error("batch pool did not finish in time")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.ShutdownContext(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestBatchPoolWorksEachJobExactlyOnce(t *testing.T) {
	c, q := setup(t)
	if _, err := testDB.Exec(`CREATE TABLE IF NOT EXISTS batch_effects (job_id bigint PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	jobs := make([]*Job, n)
	for i := range jobs {
		typ := "Plain"
		if i%3 == 0 {
			typ = "WithTx"
		}
		jobs[i] = &Job{Queue: q, Type: typ}
	}
	if err := c.EnqueueBatch(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	running := map[int64]bool{}
	var overlaps atomic.Int32
	done := make(chan struct{})
	count := func(j *Job) {
		mu.Lock()
		defer mu.Unlock()
		delete(running, j.ID)
		seen[j.ID]++
		if len(seen) == n {
			close(done)
		}
	}
	mark := func(j *Job) {
		mu.Lock()
		defer mu.Unlock()
		if running[j.ID] {
			overlaps.Add(1)
		}
		running[j.ID] = true
	}
	m := WorkMap{
		"Plain": func(j *Job) error {
			mark(j)
			time.Sleep(time.Duration(j.ID%3) * time.Millisecond)
			count(j)
			return nil
		},
		"WithTx": func(j *Job) error {
			mark(j)
			if _, err := j.Tx().Exec(`INSERT INTO batch_effects VALUES ($1)`, j.ID); err != nil {
				return err
			}
			count(j)
			return nil
		},
	}
	runBatchPool(t, c, q, m, 8, 32, done)
	for id, k := range seen {
		if k != 1 {
			t.Errorf("job %d worked %d times", id, k)
		}
	}
	var effects int
	_ = testDB.QueryRow(`SELECT count(*) FROM batch_effects`).Scan(&effects)
	if overlaps.Load() != 0 || countJobs(t, q) != 0 || effects != n/3 {
		t.Fatalf("overlaps %d, jobs left %d, effects %d (want %d)", overlaps.Load(), countJobs(t, q), effects, n/3)
	}
}

func TestBatchPoolFailuresAndRollback(t *testing.T) {
	c, q := setup(t)
	if _, err := testDB.Exec(`CREATE TABLE IF NOT EXISTS batch_undone (job_id bigint)`); err != nil {
		t.Fatal(err)
	}
	ok := enqueue(t, c, &Job{Queue: q, Type: "Ok"})
	bad := enqueue(t, c, &Job{Queue: q, Type: "Fails"})
	unknown := enqueue(t, c, &Job{Queue: q, Type: "Unknown"})
	var finished atomic.Int32
	done := make(chan struct{})
	hook := func(JobEvent) {
		if finished.Add(1) == 3 {
			close(done)
		}
	}
	p := WorkMap{
		"Ok": func(*Job) error { return nil },
		"Fails": func(j *Job) error {
			if _, err := j.Tx().Exec(`INSERT INTO batch_undone VALUES ($1)`, j.ID); err != nil {
				return err
			}
			return errors.New("no luck")
		},
	}
	pool := NewWorkerPool(c, p, 2)
	pool.Queue, pool.Interval, pool.Batch = q, 20*time.Millisecond, 10
	pool.Hooks.Worked, pool.Hooks.Failed = hook, hook
	pool.Start()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("jobs not finished")
	}
	pool.Shutdown()
	if _, _, _, found := jobRow(t, ok.ID); found {
		t.Error("succeeded job not deleted")
	}
	for _, j := range []*Job{bad, unknown} {
		if count, msg, _, found := jobRow(t, j.ID); !found || count != 1 || msg == "" {
			t.Errorf("%s: found %v count %d msg %q", j.Type, found, count, msg)
		}
	}
	var undone int
	_ = testDB.QueryRow(`SELECT count(*) FROM batch_undone`).Scan(&undone)
	if undone != 0 {
		t.Error("a failed job's writes were committed")
	}
}

func TestBatchLockerSessionKilledLosesNothing(t *testing.T) {
	c, q := setup(t)
	const n = 400
	jobs := make([]*Job, n)
	for i := range jobs {
		jobs[i] = &Job{Queue: q, Type: "Slowish"}
	}
	if err := c.EnqueueBatch(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	wc := appClient(t, "qg_locker_test")
	var worked atomic.Int32
	killed := make(chan struct{})
	m := WorkMap{"Slowish": func(j *Job) error {
		if worked.Add(1) == n/4 {
			close(killed)
		}
		time.Sleep(time.Millisecond)
		return nil
	}}
	p := NewWorkerPool(wc, m, 4)
	p.Queue, p.Interval, p.Batch = q, 20*time.Millisecond, 16
	p.Start()
	<-killed
	if _, err := testDB.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'qg_locker_test'`); err != nil {
		t.Fatal(err)
	}
	poll(time.Minute, func() bool { return countJobs(t, q) == 0 })
	p.Shutdown()
	if left := countJobs(t, q); left != 0 {
		t.Fatalf("%d jobs left after the locker's session was killed", left)
	}
	if worked.Load() < n {
		t.Fatalf("worked %d of %d", worked.Load(), n)
	}
}

func TestBatchShutdownContextEscalates(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "Stuck"})
	started := make(chan struct{})
	p := NewWorkerPool(c, WorkMap{"Stuck": func(j *Job) error {
		close(started)
		_, err := j.Tx().Exec(`SELECT pg_sleep(60)`)
		return err
	}}, 2)
	p.Queue, p.Interval, p.Batch = q, 20*time.Millisecond, 4
	p.Start()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.ShutdownContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ShutdownContext = %v", err)
	}
	again := waitLock(t, c, q)
	if again.ID != j.ID || again.ErrorCount != 0 {
		t.Fatalf("got job %d with %d errors", again.ID, again.ErrorCount)
	}
	again.Done()
}

// waitLock locks a job of queue, waiting for it to become free.
func waitLock(t *testing.T, c *Client, q string) *Job {
	t.Helper()
	var j *Job
	eventually(t, "a job to become free", func() bool {
		var err error
		if j, err = c.LockJob(q); err != nil {
			t.Fatal(err)
		}
		return j != nil
	})
	return j
}

// TestLockerEscalateSparesPooledSession: once the locker has given its
// connection back to the pool, a late escalate must not end that session,
// which may now serve the application.
func TestLockerEscalateSparesPooledSession(t *testing.T) {
	_, q := setup(t)
	db := openDB(t)
	db.SetMaxOpenConns(1) // the locker's connection is the one the app gets next
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := newLocker(c, q, 4, 1, time.Second, nil)
	if err := l.connect(); err != nil {
		t.Fatal(err)
	}
	l.disconnect()
	l.escalate()
	var pid int
	if err := db.QueryRow(`SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatalf("the pooled session was ended by a late escalate: %v", err)
	}
}
