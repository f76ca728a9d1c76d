package qg

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGoexitIsJobFailure: a WorkFunc that calls runtime.Goexit (as
// t.FailNow does) fails its job, which is recorded; the worker lives on and
// works the next job; shutdown is clean. Both modes.
func TestGoexitIsJobFailure(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			c, q := setup(t)
			var after atomic.Int32
			m := WorkMap{
				"Exit":  func(*Job) error { runtime.Goexit(); return nil },
				"After": func(*Job) error { after.Add(1); return nil },
			}
			exit := enqueue(t, c, &Job{Queue: q, Type: "Exit", Priority: 1})
			startPool(t, c, q, m, 1, mode.batch)
			waitFor(t, "the Goexit failure to be recorded", func() bool {
				n, msg, _, _ := jobRow(t, exit.ID)
				return n == 1 && strings.Contains(msg, "Goexit")
			})
			enqueue(t, c, &Job{Queue: q, Type: "After", Priority: 2})
			waitFor(t, "the worker to work the next job", func() bool { return after.Load() == 1 })
		})
	}
}

// TestSharedJobIDRunsApart: two rows with one job_id (another producer may
// write them; Que 0.x's key is the whole primary key) share one advisory
// lock, so they must never run at the same time, in either mode. The first
// run waits up to 2 seconds for the second to start.
func TestSharedJobIDRunsApart(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			c, q := setup(t)
			var running, overlaps, runs atomic.Int32
			second := make(chan struct{}, 2)
			m := WorkMap{"Shared": func(*Job) error {
				defer running.Add(-1)
				if running.Add(1) > 1 {
					overlaps.Add(1)
				}
				runs.Add(1)
				second <- struct{}{}
				if runs.Load() == 1 {
					deadline := time.Now().Add(2 * time.Second)
					for running.Load() < 2 && time.Now().Before(deadline) {
						time.Sleep(5 * time.Millisecond)
					}
				}
				return nil
			}}
			j := enqueue(t, c, &Job{Queue: q, Type: "Shared", Priority: 1})
			if _, err := testDB.Exec(`INSERT INTO que_jobs (queue, priority, job_id, job_class) VALUES ($1, 2, $2, 'Shared')`, q, j.ID); err != nil {
				t.Fatal(err)
			}
			startPool(t, c, q, m, 2, mode.batch)
			waitFor(t, "both rows worked", func() bool { return countJobs(t, q) == 0 })
			if overlaps.Load() != 0 || runs.Load() != 2 {
				t.Errorf("%d runs, %d of them overlapping another", runs.Load(), overlaps.Load())
			}
		})
	}
}

// TestRunAtExtremesBothModes: rows another producer (or qg enqueue) can write, with
// a run_at before the common era, far in the past in a zone whose old
// offset has seconds, and the infinities; every one is worked, in both
// modes, and none stops the queue.
func TestRunAtExtremesBothModes(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			c, q := setup(t)
			var worked atomic.Int32
			m := WorkMap{"Old": func(j *Job) error {
				if j.Args[1] == '1' { // through the job's transaction
					if _, err := j.Tx().ExecContext(j.Context(), `SELECT 1`); err != nil {
						return err
					}
				}
				worked.Add(1)
				return nil
			}}
			runAts := []string{"0001-01-01 00:00:00+01", "0001-01-01 00:00:00 BC", "4713-01-01 00:00:00+00 BC",
				"1900-01-01 00:00:00 Europe/Paris", "1850-06-01 12:00:00 Asia/Kolkata", "-infinity", "1970-01-01 00:00:00.000001+00"}
			for i, at := range runAts {
				for tx := range 2 {
					if _, err := testDB.Exec(`INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
VALUES ($1, $2, $3::timestamptz, 'Old', $4::json)`, q, i+1, at, fmt.Sprintf("[%d]", tx)); err != nil {
						t.Fatalf("%s: %v", at, err)
					}
				}
			}
			startPool(t, c, q, m, 2, mode.batch)
			waitFor(t, "every old row worked", func() bool { return countJobs(t, q) == 0 })
			if n := worked.Load(); n != int32(2*len(runAts)) {
				t.Errorf("%d runs for %d rows", n, 2*len(runAts))
			}
		})
	}
}

// unrecordable installs, for the test, a trigger that refuses every update
// of the rows of queue q whose class is Unrecordable: their failures
// cannot be written, as on a replica or with a hostile trigger.
func unrecordable(t *testing.T, q string) {
	t.Helper()
	name := "qg_test_refuse_" + fmt.Sprint(time.Now().UnixNano())
	_, err := testDB.Exec(`CREATE FUNCTION ` + name + `() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.queue = '` + q + `' AND OLD.job_class = 'Unrecordable' THEN
    RAISE EXCEPTION 'refused by a trigger';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ` + name + ` BEFORE UPDATE ON que_jobs FOR EACH ROW EXECUTE FUNCTION ` + name + `()`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := testDB.Exec(`DROP TRIGGER ` + name + ` ON que_jobs; DROP FUNCTION ` + name + `()`); err != nil {
			t.Error(err)
		}
	})
}

// TestUnrecordableFailureBacksOff: a failing job whose failure cannot be
// written (nor its giving up) must not be taken again at once: this
// process skips it for its backoff, logs why, and works the other jobs.
// The job is first in its queue, so without the skip the worker would take
// it again before the marker job. Both modes, retry and give-up.
func TestUnrecordableFailureBacksOff(t *testing.T) {
	for _, mode := range modes {
		for _, maxErrors := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/max_errors_%d", mode.name, maxErrors), func(t *testing.T) {
				c, q := setup(t)
				unrecordable(t, q)
				logger, logs := testLogger(t)
				var runs, marker atomic.Int32
				m := WorkMap{
					"Unrecordable": func(*Job) error { runs.Add(1); return fmt.Errorf("boom") },
					"Marker":       func(*Job) error { marker.Add(1); return nil },
				}
				enqueue(t, c, &Job{Queue: q, Type: "Unrecordable", Priority: 1})
				p := NewWorkerPool(c, m, 1)
				p.Queue, p.Interval, p.Batch, p.Logger, p.MaxErrors = q, 20*time.Millisecond, mode.batch, logger, maxErrors
				p.Backoff = func(int) time.Duration { return time.Hour }
				p.Start()
				defer p.Shutdown()
				waitFor(t, "the first run", func() bool { return runs.Load() >= 1 })
				enqueue(t, c, &Job{Queue: q, Type: "Marker", Priority: 2})
				waitFor(t, "the marker job", func() bool { return marker.Load() == 1 })
				if n := runs.Load(); n != 1 {
					t.Errorf("the job whose failure cannot be recorded ran %d times", n)
				}
				if !strings.Contains(logs.String(), "refused by a trigger") {
					t.Errorf("the unrecorded failure was not logged:\n%s", logs.String())
				}
			})
		}
	}
}

// TestMaxErrorCount: a row at the largest error_count fails once more, and
// once more with MaxErrors: the failure is recorded (error_count stays at
// its largest) or the job given up, and it is not taken again at once.
func TestMaxErrorCount(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		for _, maxErrors := range []int{0, 5} {
			t.Run(fmt.Sprintf("%s/max_errors_%d", mode.name, maxErrors), func(t *testing.T) {
				t.Parallel()
				c, q := setup(t)
				var runs atomic.Int32
				m := WorkMap{"Fails": func(*Job) error { runs.Add(1); return fmt.Errorf("again") }}
				var id int64
				if err := testDB.QueryRow(`INSERT INTO que_jobs (queue, job_class, error_count)
VALUES ($1, 'Fails', 2147483647) RETURNING job_id`, q).Scan(&id); err != nil {
					t.Fatal(err)
				}
				startPool(t, c, q, m, 1, mode.batch, func(p *WorkerPool) { p.MaxErrors = maxErrors })
				waitFor(t, "the failure recorded", func() bool {
					var n int
					var queue, msg string
					err := testDB.QueryRow(`SELECT error_count, queue, coalesce(last_error, '') FROM que_jobs WHERE job_id = $1`, id).
						Scan(&n, &queue, &msg)
					return err == nil && n == 2147483647 && msg == "again" && (maxErrors == 0 || queue == DeadQueue(q))
				})
				if n := runs.Load(); n != 1 {
					t.Errorf("ran %d times", n)
				}
			})
		}
	}
}

// TestReadOnlySessionStopsWorker: on sessions that cannot write
// (default_transaction_read_only, as on a replica) no job can be finished
// nor its failure recorded. The workers must stop with a clear error, not
// run the jobs over and over.
func TestReadOnlySessionStopsWorker(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			_, q := setup(t)
			roDB, err := sql.Open("pgx", withParam(t, testURL, "default_transaction_read_only", "on"))
			if err != nil {
				t.Fatal(err)
			}
			defer roDB.Close()
			c, err := NewClient2(roDB)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			logger, logs := testLogger(t)
			var runs atomic.Int32
			var mu sync.Mutex
			m := WorkMap{"Any": func(*Job) error { mu.Lock(); defer mu.Unlock(); runs.Add(1); return nil }}
			for range 4 {
				if _, err := testDB.Exec(`INSERT INTO que_jobs (queue, job_class) VALUES ($1, 'Any')`, q); err != nil {
					t.Fatal(err)
				}
			}
			p := NewWorkerPool(c, m, 2)
			p.Queue, p.Interval, p.Batch, p.Logger = q, 20*time.Millisecond, mode.batch, logger
			p.Start()
			waitFor(t, "the workers to stop", func() bool { return p.stoppedOnError() })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := p.ShutdownContext(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if n := runs.Load(); n > 4 {
				t.Errorf("the jobs ran %d times on read-only sessions", n)
			}
			if !strings.Contains(logs.String(), "read-only") {
				t.Errorf("no clear error in the log:\n%s", logs.String())
			}
		})
	}
}

// withParam returns rawURL with the query parameter key set to value.
func withParam(t *testing.T, rawURL, key, value string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	v := u.Query()
	v.Set(key, value)
	u.RawQuery = v.Encode()
	return u.String()
}

// TestRunAtExtremesInParis runs TestRunAtExtremesBothModes in a process whose local
// time zone is Europe/Paris, where 1900's offset (+00:09:21) has seconds:
// pgx reads run_at in the local zone, and a run_at passed back as RFC 3339
// text would lose those seconds and miss its row.
func TestRunAtExtremesInParis(t *testing.T) {
	t.Parallel()
	if os.Getenv("TZ") == "Europe/Paris" {
		return // the child itself
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunAtExtremesBothModes$", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), "TZ=Europe/Paris")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("TestRunAtExtremesBothModes in Europe/Paris: %v\n%s", err, out)
	}
}

// TestBatchTxNeverNil: in batch mode a job's Tx comes from a pool
// connection when the WorkFunc asks for it. When none can be had (here the
// pool's one connection is the locker's, and the job's deadline passes),
// Tx is still not nil: its statements fail, and the run is released, not
// recorded as a failure of the job.
func TestBatchTxNeverNil(t *testing.T) {
	t.Parallel()
	_, q := setup(t)
	db := openDB(t)
	db.SetMaxOpenConns(1)
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var runs, nils atomic.Int32
	m := WorkMap{"UsesTx": func(j *Job) error {
		runs.Add(1)
		tx := j.Tx()
		if tx == nil {
			nils.Add(1)
			return fmt.Errorf("nil Tx")
		}
		_, err := tx.ExecContext(j.Context(), `SELECT 1`)
		return err
	}}
	j := enqueue(t, c, &Job{Queue: q, Type: "UsesTx"})
	startPool(t, c, q, m, 1, 1, func(p *WorkerPool) { p.JobTimeout = 100 * time.Millisecond })
	waitFor(t, "a run", func() bool { return runs.Load() >= 1 })
	if nils.Load() != 0 {
		t.Errorf("Job.Tx() was nil in %d of %d runs", nils.Load(), runs.Load())
	}
	if n, _, _, found := jobRow(t, j.ID); !found || n != 0 {
		t.Errorf("job found %v with error_count %d: a run without a transaction counted as its failure", found, n)
	}
}
