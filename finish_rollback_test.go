package qg

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

// TestRolledBackCommitKeepsLockUntilDone guards the fix of b507d6d ("Keep
// the lock when a job's COMMIT rolls back"), in the default mode.
//
// A WorkFunc deletes its job itself (j.Delete, inside the job's
// transaction), then runs a statement that fails and ignores the error. The
// Worker's commit pipeline is then [COMMIT, pg_advisory_unlock]: COMMIT of
// the aborted transaction answers "ROLLBACK" without an error, so the unlock
// runs too, and the job's lock is gone. qg then treats the job as failed and
// records the failure on the same session (Job.errorIn), which no longer
// holds the lock. Another worker can lock and finish the job in between; the
// failure record then moves the job's run_at (part of the key every
// statement uses), so the other worker's DELETE misses it: the job is worked
// to completion and still runs again. The fix stops the pipeline before
// the unlock in an aborted transaction, so worker B finds the job locked
// until worker A is done with it.
//
// The pipeline only runs COMMIT and the unlock when pgx has the unlock
// statement in its cache already (otherwise its Parse fails in the aborted
// transaction first, and the lock is kept): so worker A works on a pool of
// one connection, warmed by an ordinary job, as every busy worker's is. A
// trigger slows the failure record by a second, so the window, were it
// open, is certain.
func TestRolledBackCommitKeepsLockUntilDone(t *testing.T) {
	db, client, url := migratedScratch(t)
	ctx := context.Background()
	clientA := urlClient(t, url, 1)
	dbExec(t, db, `CREATE FUNCTION slow_update() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$`)
	dbExec(t, db, `CREATE TRIGGER slow_update BEFORE UPDATE ON que_jobs FOR EACH ROW EXECUTE FUNCTION slow_update()`)
	warm := &Job{Type: "Warm", Queue: "rolledback", Priority: 1}
	job := &Job{Type: "Test", Queue: "rolledback", Priority: 2}
	for _, j := range []*Job{warm, job} {
		if err := client.EnqueueContext(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	worked := make(chan struct{})
	w := NewWorker(clientA, WorkMap{"Warm": func(*Job) error { return nil }, "Test": func(j *Job) error {
		defer close(worked)
		if err := j.Delete(); err != nil {
			return err
		}
		_, _ = j.Tx().Exec(`SELECT 1/0`) // a failed statement the WorkFunc ignores
		return nil
	}})
	w.Queue = "rolledback"
	if !w.WorkOne() {
		t.Fatal("worker A did not work the warm-up job")
	}
	done := make(chan bool)
	go func() { done <- w.WorkOne() }()

	// Once worker A's WorkFunc has returned, A is finishing the job
	// (committing, then recording its failure): try to take the job as
	// worker B meanwhile.
	select {
	case <-worked:
	case <-time.After(5 * time.Second):
		t.Fatal("worker A did not work the job")
	}
	other := lockWithin(t, client, "rolledback", 900*time.Millisecond)
	if other == nil {
		<-done
		t.Log("the job's lock was held until worker A was done")
		return
	}
	t.Errorf("worker B locked job %d while worker A was still finishing it", other.ID)
	waitForFailureRecord(t, db)
	if err := other.Delete(); err != nil {
		t.Errorf("worker B: delete: %v", err)
	}
	other.Done()
	<-done
	var left int
	if err := db.QueryRow(`SELECT count(*) FROM que_jobs WHERE job_id = $1`, job.ID).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("worker B deleted job %d without an error, yet it is still in que_jobs: it will run again", job.ID)
	}
}

// waitForFailureRecord waits until worker A's failure record, an UPDATE of
// que_jobs slowed by the trigger, is running on the server.
func waitForFailureRecord(t *testing.T, db *sql.DB) {
	t.Helper()
	shown := poll(900*time.Millisecond, func() bool {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
  AND query ILIKE '%UPDATE que_jobs%'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
	if !shown {
		t.Log("worker A's failure record did not show up")
	}
}
