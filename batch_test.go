package qg

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestEnqueueBatch(t *testing.T) {
	c, q := setup(t)
	later := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	jobs := []*Job{
		{Queue: q, Type: "A", Args: []byte(`[1]`)},
		{Queue: q, Type: "B", Priority: 7, RunAt: later},
		{Queue: q + "_other", Type: "C"},
	}
	for i := range 500 {
		jobs = append(jobs, &Job{Queue: q, Type: "Many", Args: []byte(fmt.Sprintf("[%d]", i))})
	}
	if err := c.EnqueueBatch(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(jobs); i++ {
		if jobs[i].ID <= jobs[i-1].ID {
			t.Fatalf("ids not in input order at %d: %d after %d", i, jobs[i].ID, jobs[i-1].ID)
		}
	}
	if jobs[0].Priority != 100 || jobs[1].Priority != 7 || !jobs[1].RunAt.Equal(later) || jobs[0].RunAt.IsZero() {
		t.Fatalf("defaults: %+v / %+v", jobs[0], jobs[1])
	}
	var args string
	var runAt time.Time
	if err := testDB.QueryRow(`SELECT args::text, run_at FROM que_jobs WHERE job_id = $1`, jobs[1].ID).Scan(&args, &runAt); err != nil {
		t.Fatal(err)
	}
	if args != "[]" || !runAt.Equal(later) {
		t.Fatalf("stored args %s run_at %v", args, runAt)
	}
	if countJobs(t, q) != 502 || countJobs(t, q+"_other") != 1 {
		t.Fatalf("rows: %d + %d", countJobs(t, q), countJobs(t, q+"_other"))
	}
	if _, err := testDB.Exec(`DELETE FROM que_jobs WHERE queue IN ($1, $2)`, q, q+"_other"); err != nil {
		t.Fatal(err)
	}
}

func TestEnqueueBatchInvalidWritesNothing(t *testing.T) {
	c, q := setup(t)
	ctx := context.Background()
	err := c.EnqueueBatch(ctx, []*Job{{Queue: q, Type: "ok"}, {Queue: q}})
	if err != ErrMissingType {
		t.Fatalf("missing type: %v", err)
	}
	err = c.EnqueueBatch(ctx, []*Job{{Queue: q, Type: "ok"}, {Queue: q, Type: "bad", Args: []byte(`{`)}})
	if !errors.Is(err, ErrInvalidArgs) {
		t.Fatalf("bad args: %v", err)
	}
	tx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnqueueBatchInTx(ctx, []*Job{{Queue: q, Type: "x"}, {Queue: q, Type: "y"}}, tx); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback()
	if n := countJobs(t, q); n != 0 {
		t.Fatalf("%d jobs written", n)
	}
}
