package qg

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestEnqueueInTxBadText enqueues, inside the caller's transaction, jobs
// whose type or queue a text column cannot hold: each is refused with
// ErrInvalidText before any statement runs, so the caller's transaction is
// not aborted and commits its own row.
func TestEnqueueInTxBadText(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	tx, err := testDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	for _, j := range []*Job{
		{Type: "A\x00B", Queue: q},
		{Type: "A\xffB", Queue: q},
		{Type: "A", Queue: q + "\x00"},
		{Type: "A", Queue: q + "\xc3"},
	} {
		err := c.EnqueueInTx(j, tx)
		if !errors.Is(err, ErrInvalidText) {
			t.Errorf("EnqueueInTx(%q in %q) = %v, want ErrInvalidText", j.Type, j.Queue, err)
		}
		if err := c.EnqueueBatchInTx(ctx, []*Job{{Type: "ok", Queue: q}, j}, tx); !errors.Is(err, ErrInvalidText) {
			t.Errorf("EnqueueBatchInTx with %q in %q = %v, want ErrInvalidText", j.Type, j.Queue, err)
		}
	}
	if err := c.EnqueueInTx(&Job{Type: "Good", Queue: q}, tx); err != nil {
		t.Fatalf("the caller's transaction is broken: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := countJobs(t, q); n != 1 {
		t.Errorf("%d jobs in the queue, want the good one", n)
	}
}

// TestHugeNameBoundedError gives a queue name of 10 MB, which the table's
// index refuses: the error says so in a bounded message, for an enqueue and
// for a lock.
func TestHugeNameBoundedError(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	huge := strings.Repeat("q\x1b", 5<<20)
	err := c.Enqueue(&Job{Type: "Huge", Queue: huge})
	if err == nil {
		t.Fatal("a 10 MB queue name was enqueued")
	}
	if len(err.Error()) > 4096 || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("enqueue error of %d bytes (raw escapes: %v)", len(err.Error()), strings.Contains(err.Error(), "\x1b"))
	}
	err = c.Enqueue(&Job{Type: huge, Queue: "q", Args: []byte("[")})
	if err == nil {
		t.Fatal("invalid args were enqueued")
	}
	if len(err.Error()) > 4096 {
		t.Errorf("enqueue error of %d bytes", len(err.Error()))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.LockJobContext(ctx, huge); err == nil || len(err.Error()) > 4096 {
		t.Errorf("lock error of %d bytes: %.200v", len(err.Error()), err)
	}
}

// modes are the two ways a WorkerPool locks jobs: one session per job (the
// default), and a batch locker (WorkerPool.Batch).
var modes = []struct {
	name  string
	batch int
}{{"default", 0}, {"batch", 4}}

// startPool starts a pool of workers on queue q in the given mode, set up
// further by the configure functions, and shut down (and checked for it)
// when the test ends.
func startPool(t *testing.T, c *Client, q string, m WorkMap, workers, batch int, configure ...func(*WorkerPool)) *WorkerPool {
	t.Helper()
	p := NewWorkerPool(c, m, workers)
	p.Queue, p.Interval, p.Batch = q, 20*time.Millisecond, batch
	for _, f := range configure {
		f(p)
	}
	p.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.ShutdownContext(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return p
}

// waitFor polls cond until it holds, failing the test after 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(20*time.Second, cond) {
		t.Fatalf("waited 20s for %s", what)
	}
}

// TestArchiveOperatorDeleteWhileRunning: an operator deletes a job while a
// worker runs it. The run does not finish it (its commit finds the job
// gone), so the archive must say "deleted", not "worked"; a job worked to
// the end in its own transaction still says "worked". Not parallel: the
// archive trigger is the database's.
func TestArchiveOperatorDeleteWhileRunning(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			c, q := uqSetup(t)
			arEnable(t)
			started, release := make(chan int64, 1), make(chan struct{})
			m := WorkMap{
				"Slow": func(j *Job) error {
					if _, err := j.Tx().ExecContext(j.Context(), `SELECT 1`); err != nil {
						return err
					}
					started <- j.ID
					<-release
					return nil
				},
				"Fast": func(j *Job) error {
					_, err := j.Tx().ExecContext(j.Context(), `SELECT 1`)
					return err
				},
			}
			slow := uqEnqueue(t, c, &Job{Queue: q, Type: "Slow"})
			startPool(t, c, q, m, 2, mode.batch)
			<-started
			if _, err := testDB.Exec(`DELETE FROM que_jobs WHERE job_id = $1`, slow.ID); err != nil {
				t.Fatal(err)
			}
			close(release)
			fast := uqEnqueue(t, c, &Job{Queue: q, Type: "Fast"})
			waitFor(t, "the fast job", func() bool { return countJobs(t, q) == 0 })
			if r := arOne(t, slow.ID); r.outcome != OutcomeDeleted {
				t.Errorf("job deleted by an operator while it ran is archived as %q", r.outcome)
			}
			waitFor(t, "the fast job's archive", func() bool { return len(arRows(t, fast.ID)) == 1 })
			if r := arOne(t, fast.ID); r.outcome != OutcomeWorked {
				t.Errorf("job worked in its transaction is archived as %q", r.outcome)
			}
		})
	}
}
