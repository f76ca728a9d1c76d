package qg

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestSnoozeCountsNoFailure checks that a WorkFunc returning Snooze rolls
// its work back and moves run_at without touching error_count or
// last_error, in the default and the batch mode, and that the job runs
// again once due.
func TestSnoozeCountsNoFailure(t *testing.T) {
	for _, batch := range []int{0, 4} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			c, queue := setup(t)
			table := "snooze_" + queue
			if _, err := testDB.Exec(`CREATE TABLE ` + table + ` (n int)`); err != nil {
				t.Fatal(err)
			}
			j := enqueue(t, c, &Job{Queue: queue, Type: "Later"})
			if _, err := testDB.Exec(`UPDATE que_jobs SET error_count = 2, last_error = 'earlier' WHERE job_id = $1`, j.ID); err != nil {
				t.Fatal(err)
			}
			runs := make(chan int, 4)
			n := 0
			p := NewWorkerPool(c, WorkMap{"Later": func(j *Job) error {
				n++
				runs <- n
				if _, err := j.Tx().Exec(`INSERT INTO `+table+` VALUES ($1)`, n); err != nil {
					return err
				}
				if n == 1 {
					return fmt.Errorf("not yet: %w", Snooze(time.Hour))
				}
				return nil
			}}, 1)
			p.Queue, p.Batch, p.Interval = queue, batch, 10*time.Millisecond
			var outcomes []RunOutcome
			p.Middleware = []Middleware{func(ctx context.Context, j *Job, work func(context.Context) JobEvent) JobEvent {
				e := work(ctx)
				outcomes = append(outcomes, e.Outcome)
				return e
			}}
			p.Start()
			defer p.Shutdown()
			<-runs
			waitForCount(t, "the snooze", func(n int) bool { return n == 1 }, `SELECT count(*) FROM que_jobs
WHERE job_id = $1 AND error_count = 2 AND last_error = 'earlier'
  AND run_at BETWEEN now() + interval '59 minutes' AND now() + interval '61 minutes'`, j.ID)
			// Due again: it runs, and this time its work commits.
			if _, err := testDB.Exec(`UPDATE que_jobs SET run_at = now() WHERE job_id = $1`, j.ID); err != nil {
				t.Fatal(err)
			}
			c.wakeups.wake(queue)
			<-runs
			waitForCount(t, "the job worked", func(n int) bool { return n == 0 },
				`SELECT count(*) FROM que_jobs WHERE job_id = $1`, j.ID)
			p.Shutdown()
			var rows []int
			r, err := testDB.Query(`SELECT n FROM ` + table)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for r.Next() {
				var n int
				_ = r.Scan(&n)
				rows = append(rows, n)
			}
			if len(rows) != 1 || rows[0] != 2 {
				t.Errorf("work committed %v, want only the second run's [2]", rows)
			}
			if len(outcomes) != 2 || outcomes[0] != RunSnoozed || outcomes[1] != RunWorked {
				t.Errorf("outcomes %v, want [snoozed worked]", outcomes)
			}
		})
	}
}

// TestSnoozeJobByID checks Client.SnoozeJob on a queued and a held job.
func TestSnoozeJobByID(t *testing.T) {
	t.Parallel()
	c, queue := setup(t)
	ctx := context.Background()
	j := enqueue(t, c, &Job{Queue: queue, Type: "A"})
	held := mustLock(t, c, queue)
	if err := c.SnoozeJob(ctx, j.ID, time.Hour); !errors.Is(err, ErrJobRunning) {
		t.Errorf("SnoozeJob of a held job = %v, want ErrJobRunning", err)
	}
	held.Done()
	if err := c.SnoozeJob(ctx, j.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	info, err := c.FindJob(ctx, j.ID)
	if err != nil || info.State != JobScheduled || info.ErrorCount != 0 {
		t.Errorf("snoozed job: %+v, %v", info, err)
	}
	if err := c.SnoozeJob(ctx, -1, time.Hour); !errors.Is(err, ErrJobNotFound) {
		t.Errorf("SnoozeJob of no job = %v, want ErrJobNotFound", err)
	}
}
