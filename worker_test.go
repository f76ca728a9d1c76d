package qg

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTestWorker returns a Worker on queue with a short interval.
func newTestWorker(c *Client, q string, m WorkMap) *Worker {
	w := NewWorker(c, m)
	w.Queue = q
	w.Interval = 10 * time.Millisecond
	return w
}

// lastError reads a job's row back.
func jobRow(t *testing.T, id int64) (errorCount int, lastError string, delay float64, found bool) {
	t.Helper()
	err := testDB.QueryRow(`SELECT error_count, coalesce(last_error, ''),
  extract(epoch FROM run_at - now())::float8 FROM que_jobs WHERE job_id = $1`, id).
		Scan(&errorCount, &lastError, &delay)
	if err != nil {
		return 0, "", 0, false
	}
	return errorCount, lastError, delay, true
}

func TestWorkOneSuccessCommitsWorkAndDelete(t *testing.T) {
	c, q := setup(t)
	if _, err := testDB.Exec(`CREATE TABLE IF NOT EXISTS worker_effects (job_id bigint PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	j := enqueue(t, c, &Job{Queue: q, Type: "Effect"})
	w := newTestWorker(c, q, WorkMap{"Effect": func(j *Job) error {
		_, err := j.Tx().Exec(`INSERT INTO worker_effects VALUES ($1)`, j.ID)
		return err
	}})
	if !w.WorkOne() {
		t.Fatal("WorkOne found no job")
	}
	if _, _, _, found := jobRow(t, j.ID); found {
		t.Fatal("job still in que_jobs after success")
	}
	var n int
	_ = testDB.QueryRow(`SELECT count(*) FROM worker_effects WHERE job_id = $1`, j.ID).Scan(&n)
	if n != 1 {
		t.Fatalf("%d effects, want 1", n)
	}
}

func TestWorkOneErrorRollsBackWorkAndRecordsError(t *testing.T) {
	c, q := setup(t)
	if _, err := testDB.Exec(`CREATE TABLE IF NOT EXISTS worker_effects (job_id bigint PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	j := enqueue(t, c, &Job{Queue: q, Type: "Fails"})
	w := newTestWorker(c, q, WorkMap{"Fails": func(j *Job) error {
		if _, err := j.Tx().Exec(`INSERT INTO worker_effects VALUES ($1)`, j.ID); err != nil {
			return err
		}
		if err := j.Delete(); err != nil { // undone by the rollback
			return err
		}
		return errors.New("card declined")
	}})
	w.WorkOne()
	count, msg, delay, found := jobRow(t, j.ID)
	if !found || count != 1 || msg != "card declined" || delay < 2 || delay > 5 {
		t.Fatalf("after failure: found=%v count=%d msg=%q delay=%.1f", found, count, msg, delay)
	}
	var n int
	_ = testDB.QueryRow(`SELECT count(*) FROM worker_effects WHERE job_id = $1`, j.ID).Scan(&n)
	if n != 0 {
		t.Fatal("the failed job's writes were committed")
	}
}

func TestWorkOnePanicAndUnknownTypeAreJobErrors(t *testing.T) {
	c, q := setup(t)
	p := enqueue(t, c, &Job{Queue: q, Type: "Panics", Priority: 1})
	u := enqueue(t, c, &Job{Queue: q, Type: "Nobody::Knows", Priority: 2})
	w := newTestWorker(c, q, WorkMap{"Panics": func(j *Job) error {
		panic("kaboom " + strings.Repeat("x", 2000))
	}})
	w.WorkOne()
	w.WorkOne()
	count, msg, _, _ := jobRow(t, p.ID)
	if count != 1 || !strings.Contains(msg, "kaboom") || !strings.Contains(msg, "worker_test.go") ||
		len(msg) < 2000 {
		t.Fatalf("panic recorded as count=%d, %d bytes: %.300q", count, len(msg), msg)
	}
	count, msg, _, _ = jobRow(t, u.ID)
	if count != 1 || !strings.Contains(msg, `unknown job type "Nobody::Knows"`) {
		t.Fatalf("unknown type recorded as count=%d msg=%q", count, msg)
	}
}

func TestWorkerLooksAgainAtOnceAfterAJob(t *testing.T) {
	c, q := setup(t)
	const n = 20
	for range n {
		enqueue(t, c, &Job{Queue: q, Type: "Quick"})
	}
	var worked atomic.Int32
	done := make(chan struct{})
	w := newTestWorker(c, q, WorkMap{"Quick": func(j *Job) error {
		if worked.Add(1) == n {
			close(done)
		}
		return nil
	}})
	w.Interval = time.Hour // a sleep between jobs would never end the test
	go w.Work()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("worked %d of %d jobs: the worker slept between jobs", worked.Load(), n)
	}
	w.Shutdown()
}

func TestShutdownLetsRunningJobFinish(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "Slow"})
	started := make(chan struct{})
	release := make(chan struct{})
	w := newTestWorker(c, q, WorkMap{"Slow": func(j *Job) error {
		close(started)
		<-release
		return nil
	}})
	go w.Work()
	<-started
	shutdownDone := make(chan struct{})
	go func() { w.Shutdown(); close(shutdownDone) }()
	select {
	case <-shutdownDone:
		t.Fatal("Shutdown returned while the job was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-shutdownDone
	if _, _, _, found := jobRow(t, j.ID); found {
		t.Fatal("job not finished by shutdown")
	}
}

func TestShutdownNeverStarted(t *testing.T) {
	c, q := setup(t)
	w := newTestWorker(c, q, WorkMap{})
	w.Shutdown()
	w.Shutdown()
	w.Work() // returns at once after Shutdown
	p := NewWorkerPool(c, WorkMap{}, 3)
	p.Shutdown()
	p.Shutdown()
	p.Start() // does nothing after Shutdown
	if err := p.ShutdownContext(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestEnvReadAtConstruction(t *testing.T) {
	c, _ := setup(t)
	t.Setenv("QUE_WAKE_INTERVAL", "0.5")
	t.Setenv("QUE_QUEUE", "from_env")
	w := NewWorker(c, WorkMap{})
	p := NewWorkerPool(c, WorkMap{}, 1)
	if w.Interval != 500*time.Millisecond || w.Queue != "from_env" {
		t.Fatalf("worker: interval %v queue %q", w.Interval, w.Queue)
	}
	if p.Interval != 500*time.Millisecond || p.Queue != "from_env" {
		t.Fatalf("pool: interval %v queue %q", p.Interval, p.Queue)
	}
	t.Setenv("QUE_WAKE_INTERVAL", "soon")
	if w := NewWorker(c, WorkMap{}); w.Interval != 5*time.Second {
		t.Fatalf("bad QUE_WAKE_INTERVAL gave %v, want the 5 s default", w.Interval)
	}
}

func TestWorkerPoolWorksEachJobExactlyOnce(t *testing.T) {
	c, q := setup(t)
	db := openDB(t)
	db.SetMaxOpenConns(8) // one per worker is enough
	pc, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	const n = 3000
	tx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := c.EnqueueInTx(&Job{Queue: q, Type: "Count"}, tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := make(map[int64]int)
	running := make(map[int64]bool)
	var overlaps atomic.Int32
	done := make(chan struct{})
	wf := func(j *Job) error {
		mu.Lock()
		if running[j.ID] {
			overlaps.Add(1)
		}
		running[j.ID] = true
		mu.Unlock()
		// A round trip while marked running, so a double run would overlap.
		if _, err := j.Tx().Exec(`SELECT 1`); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		delete(running, j.ID)
		seen[j.ID]++
		if len(seen) == n {
			close(done)
		}
		return nil
	}
	p := NewWorkerPool(pc, WorkMap{"Count": wf}, 8)
	p.Queue = q
	p.Interval = 10 * time.Millisecond
	p.Start()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("worked %d of %d jobs", len(seen), n)
	}
	p.Shutdown()
	for id, k := range seen {
		if k != 1 {
			t.Errorf("job %d worked %d times", id, k)
		}
	}
	if overlaps.Load() != 0 || countJobs(t, q) != 0 {
		t.Fatalf("overlaps %d, jobs left %d", overlaps.Load(), countJobs(t, q))
	}
}
