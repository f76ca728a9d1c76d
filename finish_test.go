package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDeleteAndDoneIdempotent(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, c, q)
	for range 2 {
		if err := j.Delete(); err != nil {
			t.Fatal(err)
		}
	}
	j.Done()
	j.Done()
	if countJobs(t, q) != 0 {
		t.Fatal("job not deleted")
	}
}

func TestDoneWithoutDeleteReleasesJob(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, c, q)
	j.Done()
	again := mustLock(t, c, q)
	if again.ID != j.ID {
		t.Fatalf("locked %d, want the released %d", again.ID, j.ID)
	}
	again.Done()
}

func TestUnconfirmedUnlockClosesConnection(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, c, q)
	pid := j.sess.pid
	// Release the lock behind qg's back: qg's own unlock then returns false.
	if _, err := j.Conn().Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, j.ID); err != nil {
		t.Fatal(err)
	}
	j.Done()
	waitSessionGone(t, pid)
}

// waitSessionGone waits until the server session pid has ended.
func waitSessionGone(t *testing.T, pid uint32) {
	t.Helper()
	waitForCount(t, fmt.Sprintf("session %d to end (its connection must not go back to the pool)", pid),
		func(n int) bool { return n == 0 }, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid)
}

func TestFailedDeleteIsAJobError(t *testing.T) {
	c, q := setup(t)
	_, err := testDB.Exec(`CREATE OR REPLACE FUNCTION qg_test_refuse_delete() RETURNS trigger AS $$
BEGIN
  IF OLD.job_class = 'DeleteFails' THEN RAISE EXCEPTION 'delete refused'; END IF;
  RETURN OLD;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS qg_test_refuse_delete ON que_jobs;
CREATE TRIGGER qg_test_refuse_delete BEFORE DELETE ON que_jobs
  FOR EACH ROW EXECUTE FUNCTION qg_test_refuse_delete();`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = testDB.Exec(`DROP TRIGGER IF EXISTS qg_test_refuse_delete ON que_jobs`) })
	j := enqueue(t, c, &Job{Queue: q, Type: "DeleteFails"})
	w := newTestWorker(c, q, WorkMap{"DeleteFails": func(j *Job) error { return nil }})
	w.WorkOne()
	count, msg, _, found := jobRow(t, j.ID)
	if !found || count != 1 || msg == "" {
		t.Fatalf("found %v count %d msg %q", found, count, msg)
	}
}

func TestBrokenPinnedConnectionLeaksNothing(t *testing.T) {
	c, q := setup(t)
	db := openDB(t)
	wc, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j, err := wc.lockForWork(context.Background(), q)
	if err != nil || j == nil {
		t.Fatalf("lockForWork: %v, %v", j, err)
	}
	if _, err := testDB.Exec(`SELECT pg_terminate_backend($1::int, 5000)`, j.sess.pid); err != nil {
		t.Fatal(err)
	}
	w := newTestWorker(wc, q, WorkMap{"x": func(*Job) error { return nil }})
	w.work(j) // the job's session is dead: the commit fails
	j.Done()
	if inUse := db.Stats().InUse; inUse != 0 {
		t.Fatalf("%d connections still in use", inUse)
	}
	// The failure was recorded from a fresh connection, with backoff.
	count, msg, delay, found := jobRow(t, j.ID)
	if !found || count != 1 || msg == "" || delay < 2 {
		t.Fatalf("found %v count %d delay %.1f msg %q", found, count, delay, msg)
	}
}

func TestTerminatedSessionGivesJobToNextWorker(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "x"})
	held := mustLock(t, c, q)
	if l, _ := c.LockJob(q); l != nil {
		l.Done()
		t.Fatal("a locked job was locked twice")
	}
	if _, err := testDB.Exec(`SELECT pg_terminate_backend($1::int, 5000)`, held.sess.pid); err != nil {
		t.Fatal(err)
	}
	// The Client that still holds the job (its WorkFunc may still run) passes
	// over it; a worker of another Client, as of another process, gets it.
	if l, _ := c.LockJob(q); l != nil {
		l.Done()
		t.Fatal("the Client holding a job whose session died locked it again")
	}
	other, err := NewClient2(testDB)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	next := mustLock(t, other, q)
	if next.ID != j.ID {
		t.Fatalf("next worker got %d, want %d", next.ID, j.ID)
	}
	if err := next.Delete(); err != nil {
		t.Fatal(err)
	}
	next.Done()
	held.Done() // the dead session's Done must not panic or pool a broken connection
}

// otherDatabaseLock takes the job lock of id in the server's postgres
// database and returns its release.
func otherDatabaseLock(t *testing.T, id int64) func() {
	t.Helper()
	db, err := sql.Open("pgx", testServerURL(t, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`SELECT pg_advisory_lock($1)`, id); err != nil {
		t.Fatal(err)
	}
	return func() { db.Close() }
}

// A WorkFunc that deletes its job, then swallows a failed statement: the
// COMMIT rolls back, and the job must stay locked while its failure is
// recorded (the unlock must not run after the rolled-back COMMIT).
func TestSwallowedFailureAfterDeleteKeepsLock(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "Swallows"})
	var lockedDuringFailure bool
	w := newTestWorker(c, q, WorkMap{"Swallows": func(j *Job) error {
		if err := j.Delete(); err != nil {
			return err
		}
		_, _ = j.Tx().Exec(`SELECT 1/0`) // fails; the WorkFunc ignores it
		return nil
	}})
	w.Hooks.Failed = func(e JobEvent) {
		var n int
		_ = testDB.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1
  AND (classid::bigint << 32) + objid::bigint = $1 AND granted`, e.Job.ID).Scan(&n)
		lockedDuringFailure = n == 1
	}
	for range 2 { // the second run has a warm statement cache
		if _, err := testDB.Exec(`UPDATE que_jobs SET run_at = now() WHERE job_id = $1`, j.ID); err != nil {
			t.Fatal(err)
		}
		w.WorkOne()
		if !lockedDuringFailure {
			t.Fatal("the job was unlocked while its failure was recorded")
		}
	}
	if count, msg, _, found := jobRow(t, j.ID); !found || count != 2 || !strings.Contains(msg, "aborted") {
		t.Fatalf("found %v count %d msg %q", found, count, msg)
	}
}

// pooledTxStatus is the transaction status of the connection the pool hands
// out next: 'I' when idle, 'T' inside a transaction.
func pooledTxStatus(t *testing.T, db *sql.DB) byte {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pc, err := rawConn(conn)
	if err != nil {
		t.Fatal(err)
	}
	return pc.PgConn().TxStatus()
}

// Once the client's context has ended (Close cancels it), rolling back a
// job's transaction must still reach the server: the connection goes back
// to the pool, and must not take the job's open transaction with it.
func TestRollbackAfterClientContextEndsLeavesNoTransaction(t *testing.T) {
	c, q := setup(t)
	wc, db := singleConnClient(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j, err := wc.lockForWork(context.Background(), q)
	if err != nil || j == nil {
		t.Fatalf("lockForWork: %v, %v", j, err)
	}
	wc.cancel()
	j.rollback()
	j.Done()
	if s := pooledTxStatus(t, db); s != 'I' {
		t.Fatalf("the pool handed out a connection in transaction status %q", s)
	}
}

// shadowUnlock makes pg_advisory_unlock(bigint) fail on sessions that put
// the schema qg_test_shadow first in their search_path.
func shadowUnlock(t *testing.T) {
	t.Helper()
	_, err := testDB.Exec(`CREATE SCHEMA qg_test_shadow;
CREATE FUNCTION qg_test_shadow.pg_advisory_unlock(bigint) RETURNS boolean
  AS $$ BEGIN RAISE EXCEPTION 'unlock refused'; END $$ LANGUAGE plpgsql`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = testDB.Exec(`DROP SCHEMA IF EXISTS qg_test_shadow CASCADE`) })
}

// An unlock that fails after the job's COMMIT went through is no failure of
// the job: its work and its deletion committed. The Worker reports it worked,
// logs the unlock, and closes the connection so that the lock goes with the
// session.
func TestUnlockFailureAfterCommitIsNoJobFailure(t *testing.T) {
	c, q := setup(t)
	shadowUnlock(t)
	wc, _ := singleConnClient(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "Shadows"})
	var pid uint32
	w := newTestWorker(wc, q, WorkMap{"Shadows": func(j *Job) error {
		pid = j.sess.pid
		// A SET outlives the transaction it commits with: the unlock that
		// follows the COMMIT finds the shadow.
		_, err := j.Tx().Exec(`SET search_path = qg_test_shadow, public, pg_catalog`)
		return err
	}})
	var worked, failed bool
	w.Hooks.Worked = func(JobEvent) { worked = true }
	w.Hooks.Failed = func(JobEvent) { failed = true }
	logger, logs := testLogger(t)
	w.Logger = logger
	w.WorkOne()
	if !worked || failed {
		t.Errorf("worked %v, failed %v: want worked only", worked, failed)
	}
	if _, _, _, found := jobRow(t, j.ID); found {
		t.Error("the committed job is still in que_jobs")
	}
	if !strings.Contains(logs.String(), "unlock refused") {
		t.Error("the failed unlock was not logged")
	}
	waitSessionGone(t, pid)
}

// TestWorkerCommitOfVanishedJobRollsBack: a job deleted by someone else
// while a Worker runs it (a run whose lock was lost, an operator) does not
// commit the Worker's work as its own, whether the Worker deletes it in its
// commit pipeline or the WorkFunc calls Delete in the job's transaction.
func TestWorkerCommitOfVanishedJobRollsBack(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		t.Run(fmt.Sprintf("Delete_in_WorkFunc=%v", explicit), func(t *testing.T) {
			c, q := setup(t)
			if _, err := testDB.Exec(`CREATE TABLE IF NOT EXISTS vanished_effects (job_id bigint)`); err != nil {
				t.Fatal(err)
			}
			j := enqueue(t, c, &Job{Queue: q, Type: "Writes"})
			var deleteErr error
			w := newTestWorker(c, q, WorkMap{"Writes": func(wj *Job) error {
				if _, err := wj.Tx().Exec(`INSERT INTO vanished_effects VALUES ($1)`, wj.ID); err != nil {
					return err
				}
				if _, err := testDB.Exec(`DELETE FROM que_jobs WHERE job_id = $1`, wj.ID); err != nil {
					return err
				}
				if explicit {
					deleteErr = wj.Delete()
				}
				return nil
			}})
			if !w.WorkOne() {
				t.Fatal("no job worked")
			}
			if explicit && !errors.Is(deleteErr, errVanished) {
				t.Fatalf("Delete of a vanished job in its transaction: %v", deleteErr)
			}
			var n int
			if err := testDB.QueryRow(`SELECT count(*) FROM vanished_effects WHERE job_id = $1`, j.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("the work of job %d committed although the job was gone", j.ID)
			}
		})
	}
}
