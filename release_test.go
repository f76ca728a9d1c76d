package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"
)

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

// Close that finds a job whose Done gave the connection back but has not
// yet untracked the job must not end that connection's session either.
func TestCloseSparesSessionOfReleasedJob(t *testing.T) {
	c, q := setup(t)
	wc, db := singleConnClient(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, wc, q)
	pid := j.sess.pid
	j.Done()
	conn := pooledConn(t, db, pid)
	if err := wc.track(j); err != nil { // as Close sees it between release and untrack
		t.Fatal(err)
	}
	wc.Close()
	assertAlive(t, conn)
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
	pid := j.sess.pid
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

// waitDead waits until job id is in queue dead.
func waitDead(t *testing.T, id int64, dead string) {
	t.Helper()
	waitForCount(t, fmt.Sprintf("job %d in %q", id, dead), func(n int) bool { return n == 1 },
		`SELECT count(*) FROM que_jobs WHERE job_id = $1 AND queue = $2`, id, dead)
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

// A connection a WorkFunc left inside a transaction of its own is discarded
// by Done, not pooled.
func TestDoneDiscardsConnectionLeftInTransaction(t *testing.T) {
	c, q := setup(t)
	wc, db := singleConnClient(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, wc, q)
	if _, err := j.Conn().Exec(context.Background(), `BEGIN`); err != nil {
		t.Fatal(err)
	}
	j.Done()
	if s := pooledTxStatus(t, db); s != 'I' {
		t.Fatalf("the pool handed out a connection in transaction status %q", s)
	}
}
