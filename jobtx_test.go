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
