package qg

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// A batch job's run fails after the server ended the locker's session, and
// before the locker noticed, while another client has locked the job: the
// failure must not be recorded (error_count, run_at and last_error are the
// other client's now), nor the job given up when MaxErrors says so. Before
// the fix, the failure was recorded from a pool connection without the lock,
// and its new run_at made the other client's delete miss the job.
func TestBatchFailureAfterLockLossNotRecorded(t *testing.T) {
	for _, maxErrors := range []int{0, 1} {
		t.Run(map[int]string{0: "retry", 1: "give up"}[maxErrors], func(t *testing.T) {
			testBatchFailureAfterLockLoss(t, maxErrors)
		})
	}
}

func testBatchFailureAfterLockLoss(t *testing.T, maxErrors int) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "Fails"})
	others := make(chan *Job, 1)
	p := NewWorkerPool(appClient(t, "qg_lock_loss_test"), WorkMap{"Fails": func(j *Job) error {
		others <- lockAfterLoss(q, j.ID, c.LockJobContext)
		return errors.New("failed after the lock was lost")
	}}, 1)
	p.Queue, p.Interval, p.Batch, p.MaxErrors = q, time.Minute, 1, maxErrors
	other := runForOther(t, p, others)
	defer other.Done()
	count, msg, delay, found := jobRow(t, j.ID)
	if !found || countJobs(t, q) != 1 || count != 0 || msg != "" || delay > 0 {
		t.Errorf("failure recorded without the lock: found %v in queue %v, error_count %d, last_error %q, run in %.0fs",
			found, countJobs(t, q) == 1, count, msg, delay)
	}
}

// lockAfterLoss ends the session holding job id's lock (in the test
// database only: pg_locks is cluster-wide, and other runs' job ids are the
// same small numbers), then locks the job
// of queue q with lock (a Client's LockJobContext or lockForWork) as soon
// as it is free; nil when it could not.
func lockAfterLoss(q string, id int64, lock func(context.Context, string) (*Job, error)) *Job {
	_, err := testDB.Exec(`SELECT pg_terminate_backend(pid) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND (classid::bigint << 32) + objid::bigint = $1
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, id)
	if err != nil {
		return nil
	}
	var j *Job
	poll(10*time.Second, func() bool {
		var err error
		j, err = lock(context.Background(), q)
		return err != nil || j != nil
	})
	return j
}

// runForOther starts p, whose WorkFunc sends the job another client locked
// after the locker lost it (lockAfterLoss) on others, waits for it and shuts
// p down.
func runForOther(t *testing.T, p *WorkerPool, others <-chan *Job) *Job {
	t.Helper()
	p.Start()
	var other *Job
	select {
	case other = <-others:
	case <-time.After(time.Minute):
		t.Fatal("the job did not run")
	}
	p.Shutdown()
	if other == nil {
		t.Fatal("the other client could not lock the job after the locker's session ended")
	}
	return other
}

// A batch job's run ends the session of its own transaction and fails: the
// job's lock, handed to that session, went with it, so the failure is
// recorded from a fresh connection once no one holds the lock, as in the
// default mode, and the job waits out its backoff, or is given up, instead
// of running again at once with nothing recorded.
func TestBatchFailureAfterTxSessionEndedRecorded(t *testing.T) {
	for _, maxErrors := range []int{0, 1} {
		t.Run(map[int]string{0: "retry", 1: "give up"}[maxErrors], func(t *testing.T) {
			testBatchFailureAfterTxSessionEnded(t, maxErrors)
		})
	}
}

func testBatchFailureAfterTxSessionEnded(t *testing.T, maxErrors int) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "EndsItsSession"})
	ran := make(chan struct{})
	p := NewWorkerPool(c, WorkMap{"EndsItsSession": func(j *Job) error {
		defer close(ran)
		_, err := j.Tx().Exec(`SELECT pg_terminate_backend(pg_backend_pid())`)
		return fmt.Errorf("ended its own session: %w", err)
	}}, 1)
	p.Queue, p.Interval, p.Batch, p.MaxErrors = q, 20*time.Millisecond, 1, maxErrors
	p.Start()
	select {
	case <-ran:
	case <-time.After(time.Minute):
		t.Fatal("the job did not run")
	}
	p.Shutdown()
	count, msg, delay, found := jobRow(t, j.ID)
	if !found || count != 1 || msg == "" {
		t.Fatalf("failure not recorded: found %v, error_count %d, last_error %q", found, count, msg)
	}
	if gaveUp := countJobs(t, q) == 0; gaveUp != (maxErrors == 1) || (!gaveUp && delay < 1) {
		t.Errorf("given up %v (MaxErrors %d), next run in %.1fs", gaveUp, maxErrors, delay)
	}
}

// After the server ended the session holding a batch job's lock (since the
// hand-off, the session of the job's Tx), another worker locks the job and
// runs it in its own transaction, while the batch run goes on to delete the
// job and commit. Only one run's writes may commit, the lock holder's.
func TestBatchTxCommitAfterLockLossCommitsOnce(t *testing.T) {
	c, q := setup(t)
	if _, err := testDB.Exec(`CREATE TABLE IF NOT EXISTS review_effects (job_id bigint, run text)`); err != nil {
		t.Fatal(err)
	}
	j := enqueue(t, c, &Job{Queue: q, Type: "Writes"})
	others := make(chan *Job, 1)
	p := NewWorkerPool(appClient(t, "qg_review_batch_tx"), WorkMap{"Writes": func(bj *Job) error {
		if _, err := bj.Tx().Exec(`INSERT INTO review_effects VALUES ($1, 'batch')`, bj.ID); err != nil {
			return err
		}
		// The locker's session ends; another worker locks the job.
		others <- lockAfterLoss(q, bj.ID, c.lockForWork)
		return nil
	}}, 1)
	p.Queue, p.Interval, p.Batch = q, time.Minute, 1
	other := runForOther(t, p, others)
	defer other.Done()
	if _, err := other.Tx().Exec(`INSERT INTO review_effects VALUES ($1, 'other')`, other.ID); err != nil {
		t.Fatal(err)
	}
	cerr := other.commit()
	var runs []string
	rows, err := testDB.Query(`SELECT run FROM review_effects WHERE job_id = $1 ORDER BY run`, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r string
		_ = rows.Scan(&r)
		runs = append(runs, r)
	}
	rows.Close()
	if len(runs) != 1 || runs[0] != "other" {
		t.Fatalf("effects committed for job %d: %v (other's commit: %v); want only the lock holder's", j.ID, runs, cerr)
	}
}
