package qg

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
)

// A WorkFunc that records an error inside its transaction and then fails:
// the rollback undoes that error, and the Worker's own failure must still be
// recorded on the row, with the backoff of a first failure.
func TestErrorInRolledBackTxStillRecordsFailure(t *testing.T) {
	c, q := setup(t)
	failing := enqueue(t, c, &Job{Queue: q, Type: "ErrorsThenFails", Priority: 1})
	aborted := enqueue(t, c, &Job{Queue: q, Type: "ErrorsThenAborts", Priority: 2})
	w := newTestWorker(c, q, WorkMap{
		"ErrorsThenFails": func(j *Job) error {
			if err := j.Error("inner"); err != nil {
				return err
			}
			return errors.New("outer")
		},
		// The commit rolls back: the error recorded inside is undone too.
		"ErrorsThenAborts": func(j *Job) error {
			if err := j.Error("inner"); err != nil {
				return err
			}
			_, _ = j.Tx().Exec(`SELECT 1/0`)
			return nil
		},
	})
	w.WorkOne()
	w.WorkOne()
	for _, j := range []*Job{failing, aborted} {
		count, msg, delay, found := jobRow(t, j.ID)
		if !found || count != 1 || msg == "inner" || delay < 2 || delay > 6 {
			t.Errorf("%s: found %v count %d delay %.1f msg %q", j.Type, found, count, delay, msg)
		}
	}
	if _, msg, _, _ := jobRow(t, aborted.ID); !strings.Contains(msg, "aborted") {
		t.Errorf("ErrorsThenAborts: last error %q, want the aborted commit", msg)
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

// A connection a WorkFunc left inside a transaction of its own is discarded
// by Done, not pooled.
func TestDoneDiscardsConnectionLeftInTransaction(t *testing.T) {
	c, q := setup(t)
	wc, db := singleConnClient(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	j := mustLock(t, wc, q)
	if _, err := j.Conn().Exec(context.Background(), `BEGIN`); err != nil {
		t.Fatal(err)
	}
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
		pid = j.pid
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
