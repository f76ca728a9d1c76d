package qg

import (
	"context"
	"database/sql"
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
