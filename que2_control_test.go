package qg

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestQue2PauseQueue checks that a paused queue of a Que 2.x table is
// passed over by LockJob, a Worker and a batch pool, and worked again once
// resumed.
func TestQue2PauseQueue(t *testing.T) {
	c, queue := setup2(t)
	db, _ := que2Shared(t)
	ctx := context.Background()
	for range 3 {
		enqueue(t, c, &Job{Queue: queue, Type: "A"})
	}
	if err := c.PauseQueue(ctx, queue); err != nil {
		t.Fatal(err)
	}
	if j, err := c.LockJob(queue); j != nil || err != nil {
		t.Fatalf("LockJob on a paused Que 2.x queue = %v, %v; want nil, nil", j, err)
	}
	w := NewWorker(c, WorkMap{"A": func(*Job) error { return nil }})
	w.Queue = queue
	if w.WorkOne() {
		t.Fatal("a Worker worked a paused Que 2.x queue")
	}
	p := NewWorkerPool(c, WorkMap{"A": func(*Job) error { return nil }}, 2)
	p.Queue, p.Batch, p.Interval = queue, 4, 10*time.Millisecond
	p.Start()
	defer p.Shutdown()
	count := func() (n int) {
		if err := db.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = $1`, queue).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("%d jobs in the paused queue, want 3", n)
	}
	if err := c.ResumeQueue(ctx, queue); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the resumed queue worked", func() bool { return count() == 0 })
}

// TestQue2CancelAndSnoozeByID checks the job-control statements of the
// Que 2.x dialect: a queued job cancelled is expired (kept, never worked
// again), and a snooze by id moves run_at without counting a failure.
func TestQue2CancelAndSnoozeByID(t *testing.T) {
	c, queue := setup2(t)
	db, _ := que2Shared(t)
	ctx := context.Background()
	cancelled := enqueue(t, c, &Job{Queue: queue, Type: "A"})
	snoozed := enqueue(t, c, &Job{Queue: queue, Type: "A"})
	running, err := c.CancelJob(ctx, cancelled.ID)
	if err != nil || running {
		t.Fatalf("CancelJob of a queued job = %v, %v; want false, nil", running, err)
	}
	var expired bool
	if err := db.QueryRow(`SELECT expired_at IS NOT NULL FROM que_jobs WHERE id = $1`, cancelled.ID).Scan(&expired); err != nil {
		t.Fatalf("the cancelled job's row: %v", err)
	}
	if !expired {
		t.Error("a cancelled queued job of a Que 2.x table is not expired")
	}
	if err := c.SnoozeJob(ctx, snoozed.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	var ahead bool
	var errors int
	err = db.QueryRow(`SELECT run_at > now() + interval '59 minutes', error_count FROM que_jobs WHERE id = $1`,
		snoozed.ID).Scan(&ahead, &errors)
	if err != nil || !ahead || errors != 0 {
		t.Fatalf("after SnoozeJob: run_at an hour ahead %v, error_count %d, %v", ahead, errors, err)
	}
	if j, err := c.LockJob(queue); j != nil || err != nil {
		t.Fatalf("LockJob found %v, %v: the expired and the snoozed job must both wait", j, err)
	}
}

// TestQue2SnoozeFromWorkFunc checks that a WorkFunc's Snooze on a Que 2.x
// table moves run_at and counts no failure, in both locking modes.
func TestQue2SnoozeFromWorkFunc(t *testing.T) {
	for _, batch := range []int{0, 4} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			c, queue := setup2(t)
			db, _ := que2Shared(t)
			j := enqueue(t, c, &Job{Queue: queue, Type: "Later"})
			p := NewWorkerPool(c, WorkMap{"Later": func(*Job) error { return Snooze(time.Hour) }}, 1)
			p.Queue, p.Batch, p.Interval = queue, batch, 10*time.Millisecond
			p.Start()
			defer p.Shutdown()
			eventually(t, "the snooze", func() bool {
				var n int
				err := db.QueryRow(`SELECT count(*) FROM que_jobs WHERE id = $1 AND error_count = 0
  AND last_error_message IS NULL AND run_at > now() + interval '59 minutes'`, j.ID).Scan(&n)
				return err == nil && n == 1
			})
		})
	}
}
