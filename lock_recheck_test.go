package qg

import (
	"context"
	"database/sql"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v4/stdlib"
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

// Under default_transaction_isolation = repeatable read (set by the
// application on its pool, or on the database), walkInTx's re-check reads
// the walk's own snapshot. A job another worker deleted and unlocked while
// the walk waited (here: behind a table lock, after its snapshot was taken)
// is locked, "re-checked" as existing, and handed to the WorkFunc again.
// Before walkInTx (4b62bdc) the walk ran outside the job's transaction and
// BEGIN + re-check took a fresh snapshot.
func TestWorkerRecheckAtEveryIsolationLevel(t *testing.T) {
	for _, iso := range []string{"read committed", "repeatable read", "serializable"} {
		t.Run(iso, func(t *testing.T) { testWalkInTxStaleRecheck(t, iso) })
	}
}

func testWalkInTxStaleRecheck(t *testing.T, iso string) {
	c, q := setup(t)
	cfg, err := pgxConfig(testURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["default_transaction_isolation"] = iso
	rr := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { rr.Close() })
	wc, err := NewClient2(rr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wc.Close)
	rr.SetMaxOpenConns(1)
	// Warm the connection's statement cache (pgx prepares on first use, in a
	// round trip of its own that would wait for the table lock itself).
	if j, err := wc.lockForWork(context.Background(), q+"_warm"); err != nil || j != nil {
		t.Fatal(j, err)
	}
	j := enqueue(t, c, &Job{Queue: q, Type: "x"})
	ctx := context.Background()

	// A: another worker holds the job and deletes it (not yet committed).
	a, err := testDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	mustExec(t, a, `SELECT pg_advisory_lock($1)`, j.ID)
	mustExec(t, a, `BEGIN`)
	mustExec(t, a, `DELETE FROM que_jobs WHERE job_id = $1`, j.ID)

	// C: a table lock queued behind A (a migration, a VACUUM FULL, ...).
	cc, err := testDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cLocked := make(chan error, 1)
	go func() {
		_, err := cc.ExecContext(ctx, `BEGIN; LOCK TABLE que_jobs IN ACCESS EXCLUSIVE MODE`)
		cLocked <- err
	}()
	waitForCount(t, "C waiting", func(n int) bool { return n == 1 },
		`SELECT count(*) FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock' AND relation = 'que_jobs'::regclass AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)

	// The worker's walk takes its snapshot, then queues behind C.
	type res struct {
		j   *Job
		err error
	}
	got := make(chan res, 1)
	go func() {
		j, err := wc.lockForWork(ctx, q)
		got <- res{j, err}
	}()
	waitForCount(t, "walk waiting", func(n int) bool { return n == 2 },
		`SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'que_jobs'::regclass AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)

	// A finishes: COMMIT, then unlock. C then goes through.
	mustExec(t, a, `COMMIT`)
	mustExec(t, a, `SELECT pg_advisory_unlock($1)`, j.ID)
	if err := <-cLocked; err != nil {
		t.Fatal(err)
	}
	mustExec(t, cc, `COMMIT`)

	r := <-got
	if r.j != nil {
		defer r.j.Done()
		var n int
		_ = testDB.QueryRow(`SELECT count(*) FROM que_jobs WHERE job_id = $1`, j.ID).Scan(&n)
		t.Fatalf("lockForWork handed out job %d, which another worker had already deleted (rows now: %d)", r.j.ID, n)
	}
	if r.err != nil {
		t.Logf("lockForWork: %v", r.err)
	}
}

func mustExec(t *testing.T, conn *sql.Conn, q string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// walkInTx's kept key survives odd session settings and odd run_at values.
func TestWalkInTxKeyRoundTrip(t *testing.T) {
	for _, tz := range []string{"America/St_Johns", "Europe/Amsterdam", "Asia/Kathmandu", "Pacific/Kiritimati"} {
		t.Run(tz, func(t *testing.T) {
			_, q := setup(t)
			q = q + "_\"\\ é\t'ü"
			cfg, err := pgxConfig(testURL)
			if err != nil {
				t.Fatal(err)
			}
			cfg.RuntimeParams["TimeZone"] = tz
			cfg.RuntimeParams["DateStyle"] = "SQL, DMY"
			db := stdlib.OpenDB(*cfg)
			defer db.Close()
			wc, err := NewClient2(db)
			if err != nil {
				t.Fatal(err)
			}
			defer wc.Close()
			for _, at := range []string{"1890-07-01 12:34:56.789012+00", "0044-03-15 12:00:00.000001+00 BC", "-infinity", "2024-02-29 23:59:59.999999+00"} {
				if _, err := testDB.Exec(`INSERT INTO que_jobs (queue, run_at, job_class) VALUES ($1, $2::timestamptz, 'x')`, q, at); err != nil {
					t.Fatal(err)
				}
				j, err := wc.lockForWork(context.Background(), q)
				if err != nil || j == nil {
					t.Fatalf("%s: lockForWork: %v, %v", at, j, err)
				}
				if err := j.commit(); err != nil {
					t.Fatalf("%s: commit: %v", at, err)
				}
				j.Done()
			}
			if n := countJobs(t, q); n != 0 {
				t.Fatalf("%d jobs left", n)
			}
		})
	}
}
