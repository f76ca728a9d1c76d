package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	want := map[int]time.Duration{0: 4 * time.Second, 1: 4 * time.Second, 2: 19 * time.Second,
		3: 84 * time.Second, 4: 259 * time.Second, 25: 390628 * time.Second,
		41: MaxBackoff, 1742: MaxBackoff, 1 << 40: MaxBackoff}
	for n, d := range want {
		if got := Backoff(n); got != d {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, d)
		}
	}
}

func TestErrorBackoffOnTheRow(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "x"})
	for i, want := range []float64{4, 19, 84} {
		// Make the job runnable again, as if its backoff had passed.
		if _, err := testDB.Exec(`UPDATE que_jobs SET run_at = now() - interval '1 second' WHERE job_id = $1`, j.ID); err != nil {
			t.Fatal(err)
		}
		l := mustLock(t, c, q)
		if err := l.Error("boom"); err != nil {
			t.Fatal(err)
		}
		l.Done()
		count, msg, delay, _ := jobRow(t, j.ID)
		if count != i+1 || msg != "boom" || delay < want-2 || delay > want+1 {
			t.Fatalf("failure %d: count %d msg %q delay %.1f, want delay %v", i+1, count, msg, delay, want)
		}
	}
	// A job that failed very often still records its error (capped delay).
	if _, err := testDB.Exec(`UPDATE que_jobs SET run_at = now() - interval '1 second', error_count = 5000 WHERE job_id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	l := mustLock(t, c, q)
	if err := l.Error("again"); err != nil {
		t.Fatal(err)
	}
	l.Done()
	if count, _, delay, _ := jobRow(t, j.ID); count != 5001 || delay < MaxBackoff.Seconds()-5 {
		t.Fatalf("count %d delay %.0f", count, delay)
	}
}

func TestDeleteAndDoneIdempotent(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, c, q)
	for range 2 {
		if err := j.Delete(); err != nil {
			t.Fatal(err)
		}
	}
	j.Done()
	j.Done()
	if countJobs(t, q) != 0 {
		t.Fatal("job not deleted")
	}
}

func TestDoneWithoutDeleteReleasesJob(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, c, q)
	j.Done()
	again := mustLock(t, c, q)
	if again.ID != j.ID {
		t.Fatalf("locked %d, want the released %d", again.ID, j.ID)
	}
	again.Done()
}

func TestUnconfirmedUnlockClosesConnection(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, c, q)
	pid := j.pid
	// Release the lock behind qg's back: qg's own unlock then returns false.
	if _, err := j.Conn().Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, j.ID); err != nil {
		t.Fatal(err)
	}
	j.Done()
	waitSessionGone(t, pid)
}

// waitSessionGone waits until the server session pid has ended.
func waitSessionGone(t *testing.T, pid uint32) {
	t.Helper()
	waitForCount(t, fmt.Sprintf("session %d to end (its connection must not go back to the pool)", pid),
		func(n int) bool { return n == 0 }, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid)
}

func TestFailedDeleteIsAJobError(t *testing.T) {
	c, q := setup(t)
	_, err := testDB.Exec(`CREATE OR REPLACE FUNCTION qg_test_refuse_delete() RETURNS trigger AS $$
BEGIN
  IF OLD.job_class = 'DeleteFails' THEN RAISE EXCEPTION 'delete refused'; END IF;
  RETURN OLD;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS qg_test_refuse_delete ON que_jobs;
CREATE TRIGGER qg_test_refuse_delete BEFORE DELETE ON que_jobs
  FOR EACH ROW EXECUTE FUNCTION qg_test_refuse_delete();`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = testDB.Exec(`DROP TRIGGER IF EXISTS qg_test_refuse_delete ON que_jobs`) })
	j := enqueue(t, c, &Job{Queue: q, Type: "DeleteFails"})
	w := newTestWorker(c, q, WorkMap{"DeleteFails": func(j *Job) error { return nil }})
	w.WorkOne()
	count, msg, _, found := jobRow(t, j.ID)
	if !found || count != 1 || msg == "" {
		t.Fatalf("found %v count %d msg %q", found, count, msg)
	}
}

func TestBrokenPinnedConnectionLeaksNothing(t *testing.T) {
	c, q := setup(t)
	db := openDB(t)
	wc, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j, err := wc.lockForWork(context.Background(), q)
	if err != nil || j == nil {
		t.Fatalf("lockForWork: %v, %v", j, err)
	}
	if _, err := testDB.Exec(`SELECT pg_terminate_backend($1::int, 5000)`, j.pid); err != nil {
		t.Fatal(err)
	}
	w := newTestWorker(wc, q, WorkMap{"x": func(*Job) error { return nil }})
	w.work(j) // the job's session is dead: the commit fails
	j.Done()
	if inUse := db.Stats().InUse; inUse != 0 {
		t.Fatalf("%d connections still in use", inUse)
	}
	// The failure was recorded from a fresh connection, with backoff.
	count, msg, delay, found := jobRow(t, j.ID)
	if !found || count != 1 || msg == "" || delay < 2 {
		t.Fatalf("found %v count %d delay %.1f msg %q", found, count, delay, msg)
	}
}

func TestTerminatedSessionGivesJobToNextWorker(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "x"})
	held := mustLock(t, c, q)
	if l, _ := c.LockJob(q); l != nil {
		l.Done()
		t.Fatal("a locked job was locked twice")
	}
	if _, err := testDB.Exec(`SELECT pg_terminate_backend($1::int, 5000)`, held.pid); err != nil {
		t.Fatal(err)
	}
	// The Client that still holds the job (its WorkFunc may still run) passes
	// over it; a worker of another Client, as of another process, gets it.
	if l, _ := c.LockJob(q); l != nil {
		l.Done()
		t.Fatal("the Client holding a job whose session died locked it again")
	}
	other, err := NewClient2(testDB)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	next := mustLock(t, other, q)
	if next.ID != j.ID {
		t.Fatalf("next worker got %d, want %d", next.ID, j.ID)
	}
	if err := next.Delete(); err != nil {
		t.Fatal(err)
	}
	next.Done()
	held.Done() // the dead session's Done must not panic or pool a broken connection
}

func TestCloseReleasesLockedJobs(t *testing.T) {
	c, q := setup(t)
	db := openDB(t)
	db.SetMaxOpenConns(2) // both pinned: Close must not need the pool
	cc, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j1 := mustLock(t, cc, q)
	j2 := mustLock(t, cc, q)
	closed := make(chan struct{})
	go func() { cc.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close hung with jobs locked")
	}
	if _, err := cc.LockJob(q); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("LockJob after Close: %v", err)
	}
	if countLocks(t) != 0 {
		t.Fatal("Close left job locks")
	}
	// Both jobs run again elsewhere.
	a, b := mustLock(t, c, q), mustLock(t, c, q)
	a.Done()
	b.Done()
	j1.Done()
	j2.Done()
	cc.Close()
}

func TestStatsCountsOnlyJobLocksOfThisDatabase(t *testing.T) {
	c, q := setup(t)
	a := enqueue(t, c, &Job{Queue: q, Type: "A"})
	enqueue(t, c, &Job{Queue: q, Type: "A"})
	b := enqueue(t, c, &Job{Queue: q, Type: "B"})
	if _, err := testDB.Exec(`UPDATE que_jobs SET error_count = 3 WHERE job_id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	j := mustLock(t, c, q)
	defer j.Done()
	// A two-int4 lock whose halves spell b's id must not count as working.
	conn, err := testDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock_all()`)
		conn.Close()
	}()
	if _, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_lock(0, $1::int)`, b.ID); err != nil {
		t.Fatal(err)
	}
	// The same job id locked in another database must not count either.
	other := otherDatabaseLock(t, b.ID)
	defer other()
	stats, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]JobStats{}
	for _, s := range stats {
		if s.Queue == q {
			got[s.Type] = s
		}
	}
	sa, sb := got["A"], got["B"]
	if sa.Count != 2 || sa.CountWorking != 1 || sa.CountErrored != 0 || j.ID != a.ID {
		t.Errorf("A: %+v (locked %d)", sa, j.ID)
	}
	if sb.Count != 1 || sb.CountWorking != 0 || sb.CountErrored != 1 || sb.HighestErrorCount != 3 {
		t.Errorf("B: %+v", sb)
	}
}

// otherDatabaseLock takes the job lock of id in the server's postgres
// database and returns its release.
func otherDatabaseLock(t *testing.T, id int64) func() {
	t.Helper()
	db, err := sql.Open("pgx", testServerURL(t, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`SELECT pg_advisory_lock($1)`, id); err != nil {
		t.Fatal(err)
	}
	return func() { db.Close() }
}

// A WorkFunc that deletes its job, then swallows a failed statement: the
// COMMIT rolls back, and the job must stay locked while its failure is
// recorded (the unlock must not run after the rolled-back COMMIT).
func TestSwallowedFailureAfterDeleteKeepsLock(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "Swallows"})
	var lockedDuringFailure bool
	w := newTestWorker(c, q, WorkMap{"Swallows": func(j *Job) error {
		if err := j.Delete(); err != nil {
			return err
		}
		_, _ = j.Tx().Exec(`SELECT 1/0`) // fails; the WorkFunc ignores it
		return nil
	}})
	w.Hooks.Failed = func(e JobEvent) {
		var n int
		_ = testDB.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1
  AND (classid::bigint << 32) + objid::bigint = $1 AND granted`, e.Job.ID).Scan(&n)
		lockedDuringFailure = n == 1
	}
	for range 2 { // the second run has a warm statement cache
		if _, err := testDB.Exec(`UPDATE que_jobs SET run_at = now() WHERE job_id = $1`, j.ID); err != nil {
			t.Fatal(err)
		}
		w.WorkOne()
		if !lockedDuringFailure {
			t.Fatal("the job was unlocked while its failure was recorded")
		}
	}
	if count, msg, _, found := jobRow(t, j.ID); !found || count != 2 || !strings.Contains(msg, "aborted") {
		t.Fatalf("found %v count %d msg %q", found, count, msg)
	}
}
