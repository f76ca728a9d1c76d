package qg

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// lockHolders counts, from a reading of pg_locks in the test database, the
// sessions holding job id's lock, and whether they all are this session.
const lockHolders = `SELECT count(*), coalesce(bool_and(pid = pg_backend_pid()), false) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND (classid::bigint << 32) + objid::bigint = $1
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`

// TestBatchTxIsOnTheLockSession checks that a batch job's transaction, and
// the connection Job.Conn gives, is on the one session holding the job's
// lock: the locker hands the lock over. (The lock is keyed by the job's id
// on both table generations; chaos runs -que 2 -batch.)
func TestBatchTxIsOnTheLockSession(t *testing.T) {
	for _, use := range []string{"Tx", "Conn"} {
		t.Run(use, func(t *testing.T) {
			c, q := setup(t)
			enqueue(t, c, &Job{Queue: q, Type: "Held"})
			result := make(chan error, 1)
			p := NewWorkerPool(c, WorkMap{"Held": func(j *Job) error {
				result <- checkOwnLock(j, use)
				return nil
			}}, 2)
			p.Queue, p.Interval, p.Batch = q, 20*time.Millisecond, 4
			p.Start()
			defer p.Shutdown()
			if err := awaitRun(t, result); err != nil {
				t.Fatal(err)
			}
			waitForCount(t, "the job deleted", func(n int) bool { return n == 0 },
				`SELECT count(*) FROM que_jobs WHERE queue = $1`, q)
			p.Shutdown()
			assertNoLocks(t)
		})
	}
}

// checkOwnLock reads, on the job's Tx or Conn, which sessions hold its lock:
// only that session must.
func checkOwnLock(j *Job, use string) error {
	var holders int
	var mine bool
	ctx := j.Context()
	if use == "Tx" {
		if err := j.Tx().QueryRowContext(ctx, lockHolders, j.ID).Scan(&holders, &mine); err != nil {
			return err
		}
	} else {
		conn := j.Conn()
		if conn == nil {
			return fmt.Errorf("no connection: %v", j.txErr)
		}
		if err := conn.QueryRow(ctx, lockHolders, j.ID).Scan(&holders, &mine); err != nil {
			return err
		}
	}
	if holders != 1 || !mine {
		return fmt.Errorf("job %d's lock is held by %d sessions, its %s's among them: %v; want by that session alone",
			j.ID, holders, use, mine)
	}
	return nil
}

// TestBatchTxOutlivesTheLockerSession ends the locker's session while a
// job's transaction is open: the job must stay locked (no other client can
// take it and run it a second time meanwhile) and its work must commit with
// its deletion, once. Before the hand-off, the lock went with the locker's
// session: another client locked and ran the job while the first run's
// transaction was still live.
func TestBatchTxOutlivesTheLockerSession(t *testing.T) {
	c, q := setup(t)
	if _, err := testDB.Exec(`CREATE TABLE IF NOT EXISTS handoff_effects (job_id bigint, run text)`); err != nil {
		t.Fatal(err)
	}
	job := enqueue(t, c, &Job{Queue: q, Type: "Long"})
	other := make(chan *Job, 1)
	result := make(chan error, 1)
	p := NewWorkerPool(appClient(t, "qg_handoff_test"), WorkMap{"Long": func(j *Job) error {
		if _, err := j.Tx().Exec(`INSERT INTO handoff_effects VALUES ($1, 'first')`, j.ID); err != nil {
			result <- err
			return err
		}
		err := endLockerSession(j)
		// The other client tries for a while to take the job.
		var got *Job
		poll(time.Second, func() bool {
			got, _ = c.LockJob(q)
			return got != nil
		})
		other <- got
		result <- err
		return err
	}}, 1)
	p.Queue, p.Interval, p.Batch = q, 20*time.Millisecond, 1
	p.Start()
	defer p.Shutdown()
	err := awaitRun(t, result)
	if got := <-other; got != nil {
		_ = got.Delete()
		got.Done()
		t.Fatalf("another client locked job %d while its first run's transaction was open", got.ID)
	}
	if err != nil {
		t.Fatal(err)
	}
	waitForCount(t, "the job deleted", func(n int) bool { return n == 0 },
		`SELECT count(*) FROM que_jobs WHERE queue = $1`, q)
	var effects int
	if err := testDB.QueryRow(`SELECT count(*) FROM handoff_effects WHERE job_id = $1`, job.ID).Scan(&effects); err != nil {
		t.Fatal(err)
	}
	if effects != 1 {
		t.Errorf("job %d's effect committed %d times, want once", job.ID, effects)
	}
	p.Shutdown()
	assertNoLocks(t)
}

// endLockerSession ends the session of the batch locker that locked j and
// waits until it is gone.
func endLockerSession(j *Job) error {
	locker := j.sess
	if locker.pid == 0 {
		return errors.New("the job has no locker session")
	}
	ctx := context.Background()
	if err := j.client.terminate([]session{locker}); err != nil {
		return err
	}
	if !poll(10*time.Second, func() bool {
		var alive bool
		err := testDB.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND backend_start = $2)`,
			int64(locker.pid), locker.start).Scan(&alive)
		return err == nil && !alive
	}) {
		return fmt.Errorf("the locker's session %d did not end", locker.pid)
	}
	return nil
}

// TestBatchHandOffWaitsForNoOneAhead: a session already waits for a batch
// job's lock (as a failure record from a fresh connection does, with
// pg_advisory_xact_lock) when the job's WorkFunc asks for its transaction.
// PostgreSQL would grant a released lock to that first waiter, not to the
// job's connection, so the locker must keep the lock: Tx fails (the run is
// released, the job runs again) and the other session gets the lock only
// once the run is over. Before the check, the locker released the lock to
// the session ahead while the WorkFunc ran on.
func TestBatchHandOffWaitsForNoOneAhead(t *testing.T) {
	errAheadGranted := errors.New("the session waiting ahead got the job's lock while its WorkFunc ran")
	c, q := setup(t)
	job := enqueue(t, c, &Job{Queue: q, Type: "Contested"})
	granted := make(chan time.Time, 1)
	result := make(chan error, 1)
	p := NewWorkerPool(c, WorkMap{"Contested": func(j *Job) error {
		go func() {
			tx, err := testDB.Begin()
			if err != nil {
				return
			}
			defer tx.Rollback() //nolint:errcheck // the test's own
			if _, err := tx.Exec(`SELECT pg_advisory_xact_lock($1)`, j.ID); err == nil {
				granted <- time.Now()
			}
		}()
		if !poll(10*time.Second, func() bool {
			var n int
			_ = testDB.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
  AND (classid::bigint << 32) + objid::bigint = $1`, j.ID).Scan(&n)
			return n == 1
		}) {
			result <- errors.New("the other session never waited")
			return nil
		}
		_, err := j.Tx().Exec(`SELECT 1`)
		select {
		case <-granted:
			result <- errAheadGranted
		default:
			result <- err
		}
		return err
	}}, 1)
	p.Queue, p.Interval, p.Batch = q, time.Hour, 1
	p.Start()
	defer p.Shutdown()
	err := awaitRun(t, result)
	if err == nil || errors.Is(err, errAheadGranted) {
		t.Fatalf("Tx = %v; want it refused while another session waits for the job's lock ahead of its connection", err)
	}
	select {
	case <-granted:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting session never got the lock after the run")
	}
	if got, err := c.FindJob(context.Background(), job.ID); err != nil || got == nil {
		t.Errorf("job %d after a released run: %v, %v; want it still queued", job.ID, got, err)
	}
}

// awaitRun waits for the result a test's WorkFunc sends, failing the test
// when the job does not run within a minute.
func awaitRun(t *testing.T, result <-chan error) error {
	t.Helper()
	select {
	case err := <-result:
		return err
	case <-time.After(time.Minute):
		t.Fatal("the job did not run")
		return nil
	}
}

// TestBatchHandOffIgnoresOtherDatabases: advisory locks are per database,
// but pg_locks lists the whole cluster. A session of another database
// waiting on the same key (two test processes, two services on one server)
// must not make the locker think someone waits ahead of the job's
// connection. Before the check named the database, the hand-off was
// refused after handoffPatience, and the job ran again: the fuzz target,
// run by two processes on their own databases, saw a row worked twice.
func TestBatchHandOffIgnoresOtherDatabases(t *testing.T) {
	c, q := setup(t)
	job := enqueue(t, c, &Job{Queue: q, Type: "Elsewhere"})
	other := scratchDB(t)
	ctx := context.Background()
	holder, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, job.ID); err != nil {
		t.Fatal(err)
	}
	waiter, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	waiting := make(chan error, 1)
	go func() {
		_, err := waiter.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, job.ID)
		waiting <- err
	}()
	defer func() {
		_, _ = holder.ExecContext(ctx, `SELECT pg_advisory_unlock_all()`)
		<-waiting
		_, _ = waiter.ExecContext(ctx, `SELECT pg_advisory_unlock_all()`)
	}()
	waitForCount(t, "the other database's session to wait", func(n int) bool { return n == 1 },
		`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
  AND (classid::bigint << 32) + objid::bigint = $1`, job.ID)
	result := make(chan error, 1)
	p := NewWorkerPool(c, WorkMap{"Elsewhere": func(j *Job) error {
		_, err := j.Tx().Exec(`SELECT 1`)
		result <- err
		return err
	}}, 1)
	p.Queue, p.Interval, p.Batch = q, 20*time.Millisecond, 1
	p.Start()
	defer p.Shutdown()
	if err := awaitRun(t, result); err != nil {
		t.Fatalf("Tx with a waiter on the same key in another database: %v", err)
	}
}
