package qg

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v4"
)

func pgxConfig(url string) (*pgx.ConnConfig, error) {
	return pgx.ParseConfig(url)
}

func TestLockJobOrder(t *testing.T) {
	c, q := setup(t)
	now := time.Now()
	// Inserted out of order; expected order is (priority, run_at, job_id).
	enqueue(t, c, &Job{Queue: q, Type: "c", Priority: 5, RunAt: now.Add(-time.Minute)})
	enqueue(t, c, &Job{Queue: q, Type: "a", Priority: 1, RunAt: now.Add(-time.Second)})
	enqueue(t, c, &Job{Queue: q, Type: "b", Priority: 5, RunAt: now.Add(-time.Hour)})
	enqueue(t, c, &Job{Queue: q, Type: "d", Priority: 5, RunAt: now.Add(-time.Minute)})
	var got string
	for range 4 {
		j := mustLock(t, c, q)
		got += j.Type
		if err := j.Delete(); err != nil {
			t.Fatal(err)
		}
		j.Done()
	}
	if got != "abcd" {
		t.Fatalf("worked in order %q, want abcd", got)
	}
}

func TestLockJobEmptyAndFuture(t *testing.T) {
	c, q := setup(t)
	j, err := c.LockJob(q)
	if err != nil || j != nil {
		t.Fatalf("empty queue: got %v, %v; want nil, nil", j, err)
	}
	enqueue(t, c, &Job{Queue: q, Type: "later", RunAt: time.Now().Add(time.Hour)})
	j, err = c.LockJob(q)
	if err != nil || j != nil {
		t.Fatalf("future job: got %v, %v; want nil, nil", j, err)
	}
}

func TestLockJobFillsEveryField(t *testing.T) {
	c, q := setup(t)
	runAt := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	var id int64
	err := testDB.QueryRow(`INSERT INTO que_jobs (queue, priority, run_at, job_class, args, error_count, last_error)
VALUES ($1, 7, $2, 'Billing::ChargeCard', '[1,"x"]', 3, 'boom') RETURNING job_id`, q, runAt).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	j := mustLock(t, c, q)
	defer j.Done()
	if j.ID != id || j.Queue != q || j.Priority != 7 || !j.RunAt.Equal(runAt) ||
		j.Type != "Billing::ChargeCard" || string(j.Args) != `[1,"x"]` || j.ErrorCount != 3 ||
		!j.LastError.Valid || j.LastError.String != "boom" {
		t.Fatalf("locked job fields wrong: %+v", j)
	}
	if j.Conn() == nil || j.Tx() != nil {
		t.Fatalf("bare LockJob: Conn() = %v, Tx() = %v", j.Conn(), j.Tx())
	}
}

func TestNamedQueues(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q + "_other", Type: "x"})
	if j, err := c.LockJob(q); err != nil || j != nil {
		t.Fatalf("locked %v, %v from a queue with no jobs", j, err)
	}
	j := mustLock(t, c, q+"_other")
	if err := j.Delete(); err != nil {
		t.Fatal(err)
	}
	j.Done()
}

func TestLockedJobSkipped(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "one"})
	enqueue(t, c, &Job{Queue: q, Type: "two"})
	j1 := mustLock(t, c, q)
	defer j1.Done()
	j2 := mustLock(t, c, q)
	defer j2.Done()
	if j1.ID == j2.ID {
		t.Fatalf("job %d locked twice", j1.ID)
	}
	if j, err := c.LockJob(q); err != nil || j != nil {
		t.Fatalf("third lock got %v, %v; want nil, nil", j, err)
	}
}

func TestTwoClientsOnTwoPoolsNeverShareAJob(t *testing.T) {
	c1, q := setup(t)
	c2, err := NewClient2(openDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	const n = 50
	for range n {
		enqueue(t, c1, &Job{Queue: q, Type: "x"})
	}
	seen := make(map[int64]bool)
	var held []*Job
	for i := 0; ; i++ {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		j, err := c.LockJob(q)
		if err != nil {
			t.Fatal(err)
		}
		if j == nil {
			break
		}
		if seen[j.ID] {
			t.Fatalf("job %d locked twice", j.ID)
		}
		seen[j.ID] = true
		held = append(held, j)
	}
	for _, j := range held {
		j.Done()
	}
	if len(seen) != n {
		t.Fatalf("locked %d jobs, want %d", len(seen), n)
	}
}
