//go:build repro

package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/qg-go/qg"
)

// TestReproRolledBackCommitReleasesLockEarly reproduces a library bug; run
// it with: go test -tags repro -run Repro ./cmd/qg-chaos/
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
// to completion and still runs again.
//
// The pipeline only runs COMMIT and the unlock when pgx has the unlock
// statement in its cache already (otherwise its Parse fails in the aborted
// transaction first, and the lock is kept): so worker A works on a pool of
// one connection, warmed by an ordinary job, as every busy worker's is. A
// trigger slows the failure record by a second, so the window is certain.
func TestReproRolledBackCommitReleasesLockEarly(t *testing.T) {
	db, client, url := reproDatabase(t)
	ctx := context.Background()
	clientA := reproClient(t, url, 1)
	mustExec(t, db, `CREATE FUNCTION slow_update() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$`)
	mustExec(t, db, `CREATE TRIGGER slow_update BEFORE UPDATE ON que_jobs FOR EACH ROW EXECUTE FUNCTION slow_update()`)
	warm := &qg.Job{Type: "Warm", Queue: "repro", Priority: 1}
	job := &qg.Job{Type: "Repro", Queue: "repro", Priority: 2}
	for _, j := range []*qg.Job{warm, job} {
		if err := client.EnqueueContext(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	worked := make(chan struct{})
	w := qg.NewWorker(clientA, qg.WorkMap{"Warm": func(*qg.Job) error { return nil }, "Repro": func(j *qg.Job) error {
		defer close(worked)
		if err := j.Delete(); err != nil {
			return err
		}
		_, _ = j.Tx().Exec(`SELECT 1/0`) // a failed statement the WorkFunc ignores
		return nil
	}})
	w.Queue = "repro"
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
	other := reproLock(t, client, "repro", 900*time.Millisecond)
	if other == nil {
		<-done
		t.Log("the job's lock was held until worker A was done: not reproduced")
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
	for deadline := time.Now().Add(900 * time.Millisecond); time.Now().Before(deadline); {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
  AND query ILIKE '%UPDATE que_jobs%'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Log("worker A's failure record did not show up")
}

// reproLock polls LockJob for up to d and returns the job it got, or nil.
func reproLock(t *testing.T, c *qg.Client, queue string, d time.Duration) *qg.Job {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		j, err := c.LockJob(queue)
		if err != nil {
			t.Fatal(err)
		}
		if j != nil {
			return j
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// reproDatabase creates a scratch database for the test, migrated, with a
// qg Client on it; all go away after the test. It returns the database's
// URL too.
func reproDatabase(t *testing.T) (*sql.DB, *qg.Client, string) {
	t.Helper()
	adminURL := testServer(t)
	admin, err := openDB(adminURL, "qg-chaos-repro", 1)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("qg_chaos_repro_%d", os.Getpid())
	mustExec(t, admin, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		mustExec(t, admin, "DROP DATABASE "+name+" WITH (FORCE)")
		admin.Close()
	})
	url, err := withDatabase(adminURL, name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(url, "qg-chaos-repro", 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := qg.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db, reproClient(t, url, 8), url
}

// reproClient returns a qg Client on a pool of its own, of conns connections.
func reproClient(t *testing.T, url string, conns int) *qg.Client {
	t.Helper()
	db, err := openDB(url, "qg-chaos-repro", conns)
	if err != nil {
		t.Fatal(err)
	}
	client, err := qg.NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); db.Close() })
	return client
}

// mustExec runs a statement and fails the test on error.
func mustExec(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	if _, err := db.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
