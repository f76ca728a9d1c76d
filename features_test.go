package qg

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v4/stdlib"
)

// logBuffer collects log output and echoes it to the test log.
type logBuffer struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimSpace(string(p)))
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{t: t}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func TestJobTimeoutRecordsOverrun(t *testing.T) {
	c, q := setup(t)
	waiting := enqueue(t, c, &Job{Queue: q, Type: "Waits", Priority: 1})
	querying := enqueue(t, c, &Job{Queue: q, Type: "Queries", Priority: 2})
	w := newTestWorker(c, q, WorkMap{
		"Waits": func(j *Job) error {
			<-j.Context().Done()
			return j.Context().Err()
		},
		// Interrupting a statement closes the pinned connection: the
		// failure must still be recorded.
		"Queries": func(j *Job) error {
			_, err := j.Tx().ExecContext(j.Context(), `SELECT pg_sleep(30)`)
			return err
		},
	})
	w.JobTimeout = 200 * time.Millisecond
	w.WorkOne()
	w.WorkOne()
	for _, j := range []*Job{waiting, querying} {
		count, msg, delay, found := jobRow(t, j.ID)
		if !found || count != 1 || !strings.Contains(msg, "exceeded its timeout of 200ms") || delay < 2 {
			t.Errorf("job %s: found %v count %d delay %.1f msg %q", j.Type, found, count, delay, msg)
		}
	}
}

func TestControlErrors(t *testing.T) {
	c, q := setup(t)
	in := enqueue(t, c, &Job{Queue: q, Type: "RetryIn", Priority: 1})
	at := enqueue(t, c, &Job{Queue: q, Type: "RetryAt", Priority: 2})
	gu := enqueue(t, c, &Job{Queue: q, Type: "GiveUp", Priority: 3})
	w := newTestWorker(c, q, WorkMap{
		"RetryIn": func(*Job) error { return RetryIn(time.Hour, errors.New("later")) },
		"RetryAt": func(*Job) error { return RetryAt(time.Now().Add(10*time.Minute), errors.New("at ten")) },
		"GiveUp":  func(*Job) error { return GiveUp(errors.New("hopeless")) },
	})
	var givenUp []int64
	w.Hooks.GivenUp = func(e JobEvent) { givenUp = append(givenUp, e.Job.ID) }
	for range 3 {
		w.WorkOne()
	}
	if _, msg, delay, _ := jobRow(t, in.ID); msg != "later" || delay < 3590 || delay > 3601 {
		t.Errorf("RetryIn: delay %.0f msg %q", delay, msg)
	}
	if _, _, delay, _ := jobRow(t, at.ID); delay < 590 || delay > 601 {
		t.Errorf("RetryAt: delay %.0f", delay)
	}
	var queue string
	if err := testDB.QueryRow(`SELECT queue FROM que_jobs WHERE job_id = $1`, gu.ID).Scan(&queue); err != nil {
		t.Fatalf("given-up job lost: %v", err)
	}
	if count, msg, _, _ := jobRow(t, gu.ID); queue != DeadQueue(q) || count != 1 || msg != "hopeless" {
		t.Errorf("GiveUp: queue %q count %d msg %q", queue, count, msg)
	}
	if len(givenUp) != 1 || givenUp[0] != gu.ID {
		t.Errorf("GivenUp hook saw %v", givenUp)
	}
}

func TestMaxErrorsAndCustomBackoff(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "Flaky"})
	w := newTestWorker(c, q, WorkMap{"Flaky": func(*Job) error { return errors.New("flaky") }})
	w.MaxErrors = 2
	w.Backoff = func(n int) time.Duration { return time.Duration(n) * time.Minute }
	w.WorkOne()
	count, _, delay, _ := jobRow(t, j.ID)
	if count != 1 || delay < 55 || delay > 61 {
		t.Fatalf("first failure: count %d delay %.0f, want 60 s", count, delay)
	}
	if _, err := testDB.Exec(`UPDATE que_jobs SET run_at = now() WHERE job_id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	w.WorkOne()
	if n := countJobs(t, DeadQueue(q)); n != 1 {
		t.Fatalf("%d jobs in the dead queue after reaching MaxErrors", n)
	}
}

func TestHooksAndLogger(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "Ok", Priority: 1})
	enqueue(t, c, &Job{Queue: q, Type: "Panics", Priority: 2})
	enqueue(t, c, &Job{Queue: q, Type: "Nobody", Priority: 3})
	logger, logs := testLogger(t)
	events := map[string][]JobEvent{}
	record := func(name string) func(JobEvent) {
		return func(e JobEvent) { events[name] = append(events[name], e) }
	}
	w := newTestWorker(c, q, WorkMap{
		"Ok":     func(*Job) error { return nil },
		"Panics": func(*Job) error { panic("oh no") },
	})
	w.Logger = logger
	w.Hooks = Hooks{Locked: record("locked"), Worked: record("worked"), Failed: record("failed"),
		Panicked: record("panicked"), UnknownType: record("unknown"), GivenUp: record("givenup")}
	for range 3 {
		w.WorkOne()
	}
	want := map[string]int{"locked": 3, "worked": 1, "failed": 2, "panicked": 1, "unknown": 1}
	for name, n := range want {
		if len(events[name]) != n {
			t.Errorf("%s hook called %d times, want %d", name, len(events[name]), n)
		}
	}
	if p := events["panicked"]; len(p) == 1 && (p[0].Panic != "oh no" || !bytes.Contains(p[0].Stack, []byte("features_test.go"))) {
		t.Errorf("panicked event: %v", p[0].Panic)
	}
	out := logs.String()
	for _, s := range []string{"job_id=", "job_class=Panics", "queue=" + q, "error_count=0", "duration=", "qg: job failed", "qg: job worked"} {
		if !strings.Contains(out, s) {
			t.Errorf("log lacks %q", s)
		}
	}
}

func TestShutdownContextEscalates(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "Stuck"})
	db := openDB(t)
	wc, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	before := runtime.NumGoroutine()
	started := make(chan struct{})
	w := newTestWorker(wc, q, WorkMap{"Stuck": func(j *Job) error {
		close(started)
		// Ignores the job's context: only ending the session stops it.
		_, err := j.Tx().Exec(`SELECT pg_sleep(60)`)
		return err
	}})
	workDone := make(chan struct{})
	go func() { w.Work(); close(workDone) }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := w.ShutdownContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ShutdownContext = %v, want deadline exceeded", err)
	}
	<-workDone
	// The job is unchanged and free: it runs again elsewhere.
	count, _, _, found := jobRow(t, j.ID)
	if !found || count != 0 {
		t.Fatalf("job found %v with error_count %d", found, count)
	}
	again := mustLock(t, c, q)
	again.Done()
	waitGoroutines(t, before)
}

// waitGoroutines waits until no more goroutines run than before.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	worked := make(chan struct{})
	p := NewWorkerPool(c, WorkMap{"x": func(*Job) error { close(worked); return nil }}, 2)
	p.Queue = q
	p.Interval = time.Hour
	p.Listen = true
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error)
	go func() { ran <- p.Run(ctx) }()
	<-worked
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, before)
}

func TestSyncMode(t *testing.T) {
	c, q := setup(t)
	if _, err := testDB.Exec(`CREATE TABLE IF NOT EXISTS sync_effects (v text)`); err != nil {
		t.Fatal(err)
	}
	c.Sync = WorkMap{
		"Write": func(j *Job) error {
			var v string
			if err := j.DecodeArgs(&v); err != nil {
				return err
			}
			if _, err := j.Tx().Exec(`INSERT INTO sync_effects VALUES ($1)`, v); err != nil {
				return err
			}
			return j.Delete()
		},
		"Fail": func(*Job) error { return errors.New("sync failure") },
	}
	if err := c.Enqueue(&Job{Queue: q, Type: "Write", Args: []byte(`["own tx"]`)}); err != nil {
		t.Fatal(err)
	}
	tx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnqueueInTx(&Job{Queue: q, Type: "Write", Args: []byte(`["caller tx"]`)}, tx); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback() // undoes the WorkFunc's write with the caller's
	if err := c.Enqueue(&Job{Queue: q, Type: "Fail"}); err == nil || err.Error() != "sync failure" {
		t.Fatalf("failing WorkFunc: %v", err)
	}
	if err := c.Enqueue(&Job{Queue: q, Type: "Missing"}); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown type: %v", err)
	}
	var vs string
	if err := testDB.QueryRow(`SELECT string_agg(v, ',') FROM sync_effects`).Scan(&vs); err != nil {
		t.Fatal(err)
	}
	if vs != "own tx" || countJobs(t, q) != 0 {
		t.Fatalf("effects %q, jobs %d", vs, countJobs(t, q))
	}
}

func TestEnqueueWakesIdleWorker(t *testing.T) {
	_, q := setup(t)
	wc := appClient(t, "qg_wake_test")
	worked := make(chan struct{})
	w := newTestWorker(wc, q, WorkMap{"x": func(*Job) error { close(worked); return nil }})
	w.Interval = time.Hour // only a wake-up can end the test
	go w.Work()
	defer w.Shutdown()
	waitPolled(t, "qg_wake_test", 1)
	if err := wc.Enqueue(&Job{Queue: q, Type: "x"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-worked:
	case <-time.After(30 * time.Second):
		t.Fatal("the idle worker was not woken by Enqueue")
	}
}

// appClient returns a Client on a pool of its own whose sessions carry
// application name app, so a test can watch them in pg_stat_activity.
func appClient(t *testing.T, app string) *Client {
	t.Helper()
	cfg, err := pgxConfig(testURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitPolled waits until n sessions of application app have finished a walk
// of the queue and gone idle: their workers found nothing and sleep.
func waitPolled(t *testing.T, app string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var idle int
		if err := testDB.QueryRow(`SELECT count(*) FROM pg_stat_activity
WHERE application_name = $1 AND state = 'idle' AND query LIKE '/* qg:lock_job%'`, app).Scan(&idle); err != nil {
			t.Fatal(err)
		}
		if idle >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d workers polled", idle, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNotifyWakesPoolForRawInsert(t *testing.T) {
	_, q := setup(t)
	ctx := context.Background()
	if err := InstallNotifyTrigger(ctx, testDB); err != nil {
		t.Fatal(err)
	}
	if err := InstallNotifyTrigger(ctx, testDB); err != nil { // idempotent
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := RemoveNotifyTrigger(ctx, testDB); err != nil {
			t.Error(err)
		}
	})
	worked := make(chan struct{})
	pc := appClient(t, "qg_notify_test")
	p := NewWorkerPool(pc, WorkMap{"Ruby::Made": func(*Job) error { close(worked); return nil }}, 1)
	p.Queue = q
	p.Interval = time.Hour // only a notification can end the test
	p.Listen = true
	p.Start()
	defer p.Shutdown()
	waitListening(t)
	waitPolled(t, "qg_notify_test", 1)
	// Inserted by raw SQL, as a Ruby producer would: no in-process wake.
	if _, err := testDB.Exec(`INSERT INTO que_jobs (queue, job_class, args) VALUES ($1, 'Ruby::Made', '[1]')`, q); err != nil {
		t.Fatal(err)
	}
	select {
	case <-worked:
	case <-time.After(30 * time.Second):
		t.Fatal("the pool was not woken by the notification")
	}
}

// waitListening waits until a session LISTENs on qg's channel.
func waitListening(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := testDB.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN ` + notifyChannel + `'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no listener")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
