package qg

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestWalksHonourPauses checks that each walk a pausable Client runs
// carries the pause guard once, and a Client made without the table keeps
// the dialect's own walks.
func TestWalksHonourPauses(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	lockJob, _ := que0.lockJob("q", nil)
	lockJobInTx, _ := que0.lockJobInTx("q", nil)
	lockJobs, _ := que0.lockJobs("q", 4, nil)
	for name, stmt := range map[string]string{"lockJob": lockJob, "lockJobInTx": lockJobInTx, "lockJobs": lockJobs} {
		if n := strings.Count(c.walk(stmt), "qg_paused_queues"); n != 1 {
			t.Errorf("%s has the pause guard %d times, want 1", name, n)
		}
	}
	plain := &Client{}
	if plain.walk(lockJob) != lockJob {
		t.Error("a Client without qg_paused_queues changed the walks")
	}
}

// TestPauseQueue checks that a paused queue is not worked by LockJob, a
// Worker or a batch pool, that other queues are, and that resume lets the
// jobs run.
func TestPauseQueue(t *testing.T) {
	t.Parallel()
	c, queue := setup(t)
	ctx := context.Background()
	other := queue + "_other"
	for range 3 {
		enqueue(t, c, &Job{Queue: queue, Type: "A"})
	}
	enqueue(t, c, &Job{Queue: other, Type: "A"})
	if err := c.PauseQueue(ctx, queue); err != nil {
		t.Fatal(err)
	}
	if err := c.PauseQueue(ctx, queue); err != nil { // idempotent
		t.Fatal(err)
	}
	if paused, err := c.PausedQueues(ctx); err != nil || !containsQueue(paused, queue) || containsQueue(paused, other) {
		t.Fatalf("PausedQueues = %v, %v", paused, err)
	}
	if j, err := c.LockJob(queue); j != nil || err != nil {
		t.Fatalf("LockJob on a paused queue = %v, %v; want nil, nil", j, err)
	}
	ran := 0
	w := NewWorker(c, WorkMap{"A": func(*Job) error { ran++; return nil }})
	w.Queue = queue
	if w.WorkOne() || ran != 0 {
		t.Fatal("a Worker worked a paused queue")
	}
	w.Queue = other
	if !w.WorkOne() {
		t.Fatal("a Worker did not work a queue that is not paused")
	}

	p := NewWorkerPool(c, WorkMap{"A": func(*Job) error { return nil }}, 2)
	p.Queue, p.Batch, p.Interval = queue, 4, 10*time.Millisecond
	p.Start()
	defer p.Shutdown()
	if n := countJobs(t, queue); n != 3 {
		t.Fatalf("%d jobs in the paused queue, want 3", n)
	}
	if err := c.ResumeQueue(ctx, queue); err != nil {
		t.Fatal(err)
	}
	waitForCount(t, "the resumed queue worked", func(n int) bool { return n == 0 },
		`SELECT count(*) FROM que_jobs WHERE queue = $1`, queue)
	if paused, _ := c.PausedQueues(ctx); containsQueue(paused, queue) {
		t.Error("the queue is still listed as paused")
	}
}

func containsQueue(paused []PausedQueue, queue string) bool {
	for _, p := range paused {
		if p.Queue == queue {
			return true
		}
	}
	return false
}

// TestPauseUnavailableWithoutTheTable checks a Client on a database whose
// que_jobs was made without qg's side tables (by Ruby Que): it works as
// before, and PauseQueue says what to do.
func TestPauseUnavailableWithoutTheTable(t *testing.T) {
	db := scratchDB(t)
	if _, err := db.Exec(Schema); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Enqueue(&Job{Type: "A"}); err != nil {
		t.Fatal(err)
	}
	j, err := c.LockJob("")
	if err != nil || j == nil {
		t.Fatalf("LockJob without qg_paused_queues: %v, %v", j, err)
	}
	j.Done()
	if err := c.PauseQueue(context.Background(), ""); !errors.Is(err, ErrPauseUnavailable) {
		t.Errorf("PauseQueue without the table = %v, want ErrPauseUnavailable", err)
	}
}
