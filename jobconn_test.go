package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// singleConnClient returns a Client on a pool of one connection, so a
// connection a job gives back is the very one the pool hands out next.
func singleConnClient(t *testing.T) (*Client, *sql.DB) {
	t.Helper()
	db := openDB(t)
	db.SetMaxOpenConns(1)
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, db
}

// pooledConn takes the pool's connection and checks it is session pid.
func pooledConn(t *testing.T, db *sql.DB, pid uint32) *sql.Conn {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var got uint32
	if err := conn.QueryRowContext(context.Background(), `SELECT pg_backend_pid()`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != pid {
		t.Fatalf("the pool handed out session %d, want the released %d", got, pid)
	}
	return conn
}

// assertAlive fails the test when conn's session was ended.
func assertAlive(t *testing.T, conn *sql.Conn) {
	t.Helper()
	if _, err := conn.ExecContext(context.Background(), `SELECT 1`); err != nil {
		t.Fatalf("a pooled session that no job holds was ended: %v", err)
	}
}

// A shutdown that read the running job just before the job was released
// must not end the session, which now serves someone else.
func TestEscalateSparesSessionOfReleasedJob(t *testing.T) {
	c, q := setup(t)
	wc, db := singleConnClient(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, wc, q)
	pid := j.pid
	j.Done()
	if j.pid != 0 {
		t.Errorf("a released job still names session %d", j.pid)
	}
	conn := pooledConn(t, db, pid)
	w := newTestWorker(wc, q, nil)
	w.setCurrent(j)
	w.escalate()
	assertAlive(t, conn)
}

// Close that finds a job whose Done gave the connection back but has not
// yet untracked the job must not end that connection's session either.
func TestCloseSparesSessionOfReleasedJob(t *testing.T) {
	c, q := setup(t)
	wc, db := singleConnClient(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, wc, q)
	pid := j.pid
	j.Done()
	conn := pooledConn(t, db, pid)
	if err := wc.track(j); err != nil { // as Close sees it between release and untrack
		t.Fatal(err)
	}
	wc.Close()
	assertAlive(t, conn)
}

// unreachable makes c's side connection, which ends job sessions, fail.
func unreachable(c *Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bad := c.connConfig.Copy()
	bad.Host, bad.Port, bad.Fallbacks = "127.0.0.1", 1, nil
	c.connConfig = bad
}

// A job a shutdown gave up on must not go back to the pool, even when its
// session could not be ended: it may still hold the lock, or be mid-work.
func TestAbandonedJobConnectionIsDiscarded(t *testing.T) {
	c, q := setup(t)
	wc, _ := singleConnClient(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j, err := wc.lockForWork(context.Background(), q)
	if err != nil || j == nil {
		t.Fatalf("lockForWork: %v, %v", j, err)
	}
	pid := j.pid
	unreachable(wc)
	w := newTestWorker(wc, q, nil)
	w.setCurrent(j)
	w.escalate()
	j.Done()
	waitSessionGone(t, pid)
}

// waitJobUnlocked waits until no session holds job id's lock.
func waitJobUnlocked(t *testing.T, id int64) {
	t.Helper()
	waitForCount(t, fmt.Sprintf("job %d to be unlocked", id), func(n int) bool { return n == 0 },
		`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1
  AND (classid::bigint << 32) + objid::bigint = $1 AND granted`, id)
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

// waitDead waits until job id is in queue dead.
func waitDead(t *testing.T, id int64, dead string) {
	t.Helper()
	waitForCount(t, fmt.Sprintf("job %d in %q", id, dead), func(n int) bool { return n == 1 },
		`SELECT count(*) FROM que_jobs WHERE job_id = $1 AND queue = $2`, id, dead)
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
