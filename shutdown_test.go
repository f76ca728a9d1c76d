package qg

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

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
	if !poll(5*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
	}
}

// A shutdown that read the running job just before the job was released
// must not end the session, which now serves someone else.
func TestEscalateSparesSessionOfReleasedJob(t *testing.T) {
	c, q := setup(t)
	wc, db := singleConnClient(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, wc, q)
	pid := j.sess.pid
	j.Done()
	if j.sess.pid != 0 {
		t.Errorf("a released job still names session %d", j.sess.pid)
	}
	conn := pooledConn(t, db, pid)
	w := newTestWorker(wc, q, nil)
	w.setCurrent(j)
	w.escalate()
	assertAlive(t, conn)
}

// When the server cannot be reached to end a job's session, escalation
// still closes the job's connection, so the idle session ends and its lock
// goes at once, and says so in the log. The job runs again, unchanged.
func TestEscalateClosesConnectionWhenTerminateFails(t *testing.T) {
	c, q := setup(t)
	wc, _ := singleConnClient(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "Stuck"})
	started, release := make(chan struct{}), make(chan struct{})
	w := newTestWorker(wc, q, WorkMap{"Stuck": func(*Job) error {
		close(started)
		<-release // ignores its context
		return nil
	}})
	logger, logs := testLogger(t)
	w.Logger = logger
	done := make(chan struct{})
	go func() { w.WorkOne(); close(done) }()
	var once sync.Once
	finish := func() { once.Do(func() { close(release) }); <-done }
	t.Cleanup(finish)
	<-started
	unreachable(wc)
	w.escalate()
	waitJobUnlocked(t, j.ID)
	finish()
	if !strings.Contains(logs.String(), `level=WARN msg="qg: end the session of a released job"`) {
		t.Error("the failed terminate was not logged")
	}
	if count, _, _, found := jobRow(t, j.ID); !found || count != 0 {
		t.Fatalf("job found %v with error_count %d, want it unchanged", found, count)
	}
}

// A shutdown logs the running job's attributes while the job's goroutine
// may be giving it up, which changes them: go test -race must find no race.
// The test waits for the row, not for the goroutine, so nothing orders the
// two goroutines' accesses but the Job's own locking.
func TestEscalateWhileJobIsGivenUp(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "Dies"})
	release := make(chan struct{})
	w := newTestWorker(c, q, WorkMap{"Dies": func(*Job) error { return GiveUp(errors.New("hopeless")) }})
	w.Logger, _ = testLogger(t)
	w.Hooks.GivenUp = func(JobEvent) { <-release }
	done := make(chan struct{})
	go func() { w.WorkOne(); close(done) }()
	var once sync.Once
	finish := func() { once.Do(func() { close(release) }); <-done }
	t.Cleanup(finish)
	waitDead(t, j.ID, DeadQueue(q))
	w.escalate()
	finish()
	if count, _, _, found := jobRow(t, j.ID); !found || count != 1 {
		t.Fatalf("job found %v with error_count %d, want it given up once", found, count)
	}
}
