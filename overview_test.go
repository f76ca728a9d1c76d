package qg

import (
	"context"
	"testing"
	"time"
)

// TestOverviewCountsEachState checks Overview's counts per queue and class:
// ready, scheduled, working, failing and given up (counted under the queue
// it came from), and the oldest ready job's age.
func TestOverviewCountsEachState(t *testing.T) {
	t.Parallel()
	c, queue := setup(t)
	ctx := context.Background()
	enqueue(t, c, &Job{Queue: queue, Type: "A", RunAt: time.Now().Add(-time.Hour)})
	enqueue(t, c, &Job{Queue: queue, Type: "A"})
	enqueue(t, c, &Job{Queue: queue, Type: "A", RunAt: time.Now().Add(time.Hour)})
	failing := enqueue(t, c, &Job{Queue: queue, Type: "B", RunAt: time.Now().Add(time.Hour)})
	if _, err := testDB.Exec(`UPDATE que_jobs SET error_count = 3 WHERE job_id = $1`, failing.ID); err != nil {
		t.Fatal(err)
	}
	enqueue(t, c, &Job{Queue: DeadQueue(queue), Type: "B"})
	other := queue + "_held"
	enqueue(t, c, &Job{Queue: other, Type: "A"})
	held := mustLock(t, c, other)
	defer held.Done()

	all, err := c.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]QueueCounts{}
	for _, q := range all {
		if q.Queue == queue || q.Queue == other {
			got[q.Queue+"/"+q.Type] = q
		}
	}
	a, b, h := got[queue+"/A"], got[queue+"/B"], got[other+"/A"]
	if a.Ready != 2 || a.Scheduled != 1 || a.Working != 0 || a.Failing != 0 || a.GivenUp != 0 {
		t.Errorf("class A: %+v, want 2 ready and 1 scheduled", a)
	}
	if a.OldestReadyAge < 59*time.Minute || a.OldestReadyAge > 2*time.Hour {
		t.Errorf("class A: oldest ready age %v, want about an hour", a.OldestReadyAge)
	}
	if b.Ready != 0 || b.Scheduled != 1 || b.Failing != 1 || b.GivenUp != 1 || b.OldestReadyAge != 0 {
		t.Errorf("class B: %+v, want 1 scheduled and failing, 1 given up, no ready age", b)
	}
	if h.Working != 1 || h.Ready != 0 {
		t.Errorf("held queue: %+v, want 1 working", h)
	}
	for _, q := range all {
		if q.Queue == DeadQueue(queue) {
			t.Errorf("the dead-letter queue has a row of its own: %+v", q)
		}
	}
}

// TestJobHolderNamesTheSession checks that JobHolder names the session
// holding a job's lock, and nothing once it is released.
func TestJobHolderNamesTheSession(t *testing.T) {
	t.Parallel()
	c, queue := setup(t)
	ctx := context.Background()
	j := enqueue(t, c, &Job{Queue: queue, Type: "A"})
	held := mustLock(t, c, queue)
	s, err := c.JobHolder(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil || s.PID != int(held.sess.pid) || s.BackendStart.IsZero() || s.Since.IsZero() {
		t.Fatalf("JobHolder = %+v, want the session of pid %d with its times", s, held.sess.pid)
	}
	held.Done()
	if s, err := c.JobHolder(ctx, j.ID); err != nil || s != nil {
		t.Fatalf("JobHolder after Done = %+v, %v; want nil, nil", s, err)
	}
}

// TestPeriodicTicksAndUniqueKeys checks that both read their tables, and
// that a database lacking them answers an empty list.
func TestPeriodicTicksAndUniqueKeys(t *testing.T) {
	t.Parallel()
	c, queue := setup(t)
	ctx := context.Background()
	name := queue + "_tick"
	tick := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := testDB.Exec(`INSERT INTO qg_periodic (name, last_tick) VALUES ($1, $2)`, name, tick); err != nil {
		t.Fatal(err)
	}
	ticks, err := c.PeriodicTicks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, pt := range ticks {
		found = found || (pt.Name == name && pt.LastTick.Equal(tick) && !pt.UpdatedAt.IsZero())
	}
	if !found {
		t.Errorf("PeriodicTicks = %+v, want %s at %v", ticks, name, tick)
	}
	keys, err := c.UniqueKeys(ctx, 0)
	if err != nil || keys == nil {
		t.Errorf("UniqueKeys without the table = %v, %v; want an empty list", keys, err)
	}
}
