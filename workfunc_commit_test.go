package qg

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestCommitInWorkFuncIsRefused checks that a WorkFunc's Commit of the
// job's transaction commits nothing: with no later error the work commits
// once, with the job's removal; with a later error nothing commits and the
// job stays, its failure recorded. In the default and the batch mode.
func TestCommitInWorkFuncIsRefused(t *testing.T) {
	for _, batch := range []int{0, 4} {
		for _, laterErr := range []bool{false, true} {
			t.Run(fmt.Sprintf("batch=%d/later_error=%v", batch, laterErr), func(t *testing.T) {
				c, queue := setup(t)
				table := "commit_" + queue
				if _, err := testDB.Exec(`CREATE TABLE ` + table + ` (job_id bigint)`); err != nil {
					t.Fatal(err)
				}
				j := enqueue(t, c, &Job{Queue: queue, Type: "Pay"})
				commitErr := make(chan error, 1)
				p := NewWorkerPool(c, WorkMap{"Pay": func(j *Job) error {
					if _, err := j.Tx().Exec(`INSERT INTO `+table+` VALUES ($1)`, j.ID); err != nil {
						return err
					}
					err := j.Tx().Commit()
					commitErr <- err
					// Still usable after the refusal.
					if _, err := j.Tx().Exec(`INSERT INTO `+table+` VALUES ($1)`, -j.ID); err != nil {
						return err
					}
					if laterErr {
						return GiveUp(errors.New("failed after its Commit"))
					}
					return nil
				}}, 1)
				p.Queue, p.Batch, p.Interval = queue, batch, 10*time.Millisecond
				p.Start()
				defer p.Shutdown()
				if err := <-commitErr; !errors.Is(err, ErrCommitInWorkFunc) {
					t.Fatalf("Commit inside the WorkFunc = %v, want ErrCommitInWorkFunc", err)
				}
				if laterErr {
					waitForCount(t, "the job given up", func(n int) bool { return n == 1 },
						`SELECT count(*) FROM que_jobs WHERE job_id = $1 AND queue = $2 AND error_count = 1`, j.ID, DeadQueue(queue))
				} else {
					waitForCount(t, "the job gone", func(n int) bool { return n == 0 },
						`SELECT count(*) FROM que_jobs WHERE job_id = $1`, j.ID)
				}
				p.Shutdown()
				var rows int
				if err := testDB.QueryRow(`SELECT count(*) FROM ` + table).Scan(&rows); err != nil {
					t.Fatal(err)
				}
				want := 2 // both writes, committed with the job's removal
				if laterErr {
					want = 0 // the Commit committed nothing; the failure rolled all back
				}
				if rows != want {
					t.Errorf("%d rows of the work committed, want %d", rows, want)
				}
			})
		}
	}
}
