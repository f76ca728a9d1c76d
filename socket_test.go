package qg

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestEnqueueContextEndsBlockedInsert: an Enqueue whose INSERT waits on a
// lock returns when its context ends, the server cancels the INSERT (no job
// appears once the lock goes), and the pool hands out working connections
// afterwards.
func TestEnqueueContextEndsBlockedInsert(t *testing.T) {
	_, q := setup(t)
	db := openDB(t)
	db.SetMaxOpenConns(1) // the next Enqueue must not get the broken connection
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lock, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	if _, err := lock.Exec(`LOCK TABLE que_jobs IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = c.EnqueueContext(ctx, &Job{Queue: q, Type: "blocked"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Enqueue with a blocked INSERT: %v, want a deadline error", err)
	}
	waitNoInsertWaiting(t)
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := countJobs(t, q); n != 0 {
		t.Fatalf("%d jobs inserted by a cancelled Enqueue", n)
	}
	if err := c.Enqueue(&Job{Queue: q, Type: "after"}); err != nil {
		t.Fatalf("Enqueue after a cancelled one: %v", err)
	}
	if n := countJobs(t, q); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
}

// TestEnqueueContextAlreadyDone: an ended context inserts nothing.
func TestEnqueueContextAlreadyDone(t *testing.T) {
	c, q := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.EnqueueContext(ctx, &Job{Queue: q, Type: "x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Enqueue with a cancelled context: %v", err)
	}
	if n := countJobs(t, q); n != 0 {
		t.Fatalf("%d jobs inserted", n)
	}
}

// waitNoInsertWaiting waits until no session waits to insert a job.
func waitNoInsertWaiting(t *testing.T) {
	t.Helper()
	waitForCount(t, "no session waiting to insert", func(n int) bool { return n == 0 },
		`SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND query LIKE '/* qg:insert_job */%' AND state = 'active'`)
}
