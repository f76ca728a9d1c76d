package qg

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v4/stdlib"
)

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

// A batch job's Tx runs on a pool connection that holds no lock. After the
// server ended the locker's session, another worker locks the job and runs
// it in its own transaction, while the batch run, not yet cancelled (the
// locker notices within a heartbeat), goes on to delete the job in its Tx
// and commit. Only one run's writes may commit, the lock holder's: the batch
// run deletes only while its locker holds the lock, and fails otherwise.
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

// wrapDriver wraps the pgx stdlib driver the way instrumentation wrappers
// (otelsql, sqlhooks, ...) do: its connections are not *stdlib.Conn.
type wrapConn struct{ driver.Conn }

type wrapConnector struct{ driver.Connector }

func (w wrapConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := w.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return wrapConn{c}, nil
}

// EnqueueIn documents that q may be a *sql.DB. Before 35f69f0 any *sql.DB on
// the database worked (the INSERT went through database/sql); now a pool of
// another driver, or a wrapped pgx driver, fails.
func TestEnqueueInOtherDriverDB(t *testing.T) {
	c, q := setup(t)
	cfg, err := pgxConfig(testURL)
	if err != nil {
		t.Fatal(err)
	}
	other := sql.OpenDB(wrapConnector{stdlib.GetConnector(*cfg)})
	defer other.Close()
	if err := c.EnqueueIn(context.Background(), &Job{Queue: q, Type: "x"}, other); err != nil {
		t.Fatalf("EnqueueIn on another *sql.DB: %v", err)
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
