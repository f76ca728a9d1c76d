package qg

import (
	"context"
	"database/sql"
	"net/url"
	"testing"
)

// TestRecheckAfterRealRace plays the race the existence re-check exists for,
// deterministically: LockJob's walk takes its snapshot, another session
// deletes the first job and commits, and only then does the walk try that
// job's lock, which is free. Without the re-check LockJob would return the
// deleted job. The walk is held between snapshot and lock by a gate: a view
// named que_jobs, first on the search_path of LockJob's pool, whose rows wait
// on an advisory lock the test holds.
func TestRecheckAfterRealRace(t *testing.T) {
	playRecheckRace(t, func(gc *Client, q string) (int64, error) {
		j, err := gc.LockJob(q)
		if err != nil || j == nil {
			return 0, err
		}
		defer j.Done()
		return j.ID, nil
	})
}

// TestWorkerRecheckAfterRealRace plays the same race against a Worker,
// whose walk, BEGIN and re-check go to the server in one pipeline: the
// deleted job must not run, the next one must.
func TestWorkerRecheckAfterRealRace(t *testing.T) {
	playRecheckRace(t, func(gc *Client, q string) (int64, error) {
		var ran int64
		w := NewWorker(gc, WorkMap{
			"gone": func(j *Job) error { ran = j.ID; return nil },
			"kept": func(j *Job) error { ran = j.ID; return nil },
		})
		w.Queue = q
		if !w.WorkOne() {
			return 0, nil
		}
		return ran, nil
	})
}

// playRecheckRace enqueues two jobs, lets lock (LockJob or a Worker) walk
// q through the gate, deletes the first job while the walk waits between
// its snapshot and its lock, and checks that lock got the second job.
func playRecheckRace(t *testing.T, lock func(gc *Client, q string) (int64, error)) {
	c, q := setup(t)
	gone := enqueue(t, c, &Job{Queue: q, Type: "gone", Priority: 1})
	kept := enqueue(t, c, &Job{Queue: q, Type: "kept", Priority: 2})
	createGate(t)

	gate, err := testDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	if _, err := gate.ExecContext(context.Background(), `SELECT pg_advisory_lock(29029, 1)`); err != nil {
		t.Fatal(err)
	}
	gc, err := NewClient2(gatedDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	type result struct {
		id  int64
		err error
	}
	res := make(chan result, 1)
	go func() {
		id, err := lock(gc, q)
		res <- result{id, err}
	}()
	waitForGateWaiter(t)
	if _, err := testDB.Exec(`DELETE FROM que_jobs WHERE job_id = $1`, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := gate.ExecContext(context.Background(), `SELECT pg_advisory_unlock(29029, 1)`); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.id != kept.ID {
		t.Fatalf("got job %d, want job %d (job %d was deleted)", r.id, kept.ID, gone.ID)
	}
}

// createGate creates schema qg_gate with a que_jobs view whose rows wait for
// the two-int4 advisory lock (29029, 1).
func createGate(t *testing.T) {
	t.Helper()
	_, err := testDB.Exec(`CREATE SCHEMA IF NOT EXISTS qg_gate;
CREATE OR REPLACE FUNCTION qg_gate.pass() RETURNS boolean VOLATILE LANGUAGE sql AS
  'SELECT pg_advisory_lock_shared(29029, 1) IS NOT NULL AND pg_advisory_unlock_shared(29029, 1)';
CREATE OR REPLACE VIEW qg_gate.que_jobs AS SELECT * FROM public.que_jobs WHERE qg_gate.pass();
COMMENT ON VIEW qg_gate.que_jobs IS '3';`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = testDB.Exec(`DROP SCHEMA qg_gate CASCADE`) })
}

// gatedDB opens a pool whose search_path finds the gate view first.
func gatedDB(t *testing.T) *sql.DB {
	t.Helper()
	u, err := url.Parse(testURL)
	if err != nil {
		t.Fatal(err)
	}
	v := u.Query()
	v.Set("search_path", "qg_gate,public")
	u.RawQuery = v.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// waitForGateWaiter waits until a session waits on the gate's lock.
func waitForGateWaiter(t *testing.T) {
	t.Helper()
	waitForCount(t, "a walk waiting at the gate", func(n int) bool { return n > 0 }, `SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND NOT granted AND classid = 29029 AND objid = 1 AND objsubid = 2`)
}
