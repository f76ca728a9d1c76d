package drivertest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v4/stdlib" // "pgx": the driver that works jobs
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx/v5"
	_ "github.com/lib/pq"              // "postgres"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/internal/pgtest"
)

// drivers are the database/sql driver names tested, besides pgx v4's.
var drivers = []string{"postgres", "pgx/v5"}

// generations are the two que_jobs tables, by the function that makes them.
var generations = []struct {
	name    string
	migrate func(context.Context, *sql.DB) error
}{{"que0", qg.Migrate}, {"que2", qg.MigrateQue2}}

func TestMain(m *testing.M) {
	if _, err := sql.Open("pgx", pgtest.AdminURL()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// migrated is scratch with que_jobs of Ruby Que 0.x, and a Client on it,
// closed at the end of t.
func migrated(t testing.TB, driver string) (*qg.Client, *sql.DB, string) {
	t.Helper()
	db, url := scratch(t, driver)
	if err := qg.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	c, err := qg.NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, db, url
}

// scratch creates a database of its own for t and opens it with driver.
func scratch(t testing.TB, driver string) (*sql.DB, string) {
	t.Helper()
	url, drop, err := pgtest.CreateDatabase(pgtest.AdminURL(), pgtest.Name("qg_drivers"))
	if err != nil {
		t.Fatal(pgtest.Unreachable(err, "make db"))
	}
	db, err := sql.Open(driver, url)
	if err != nil {
		drop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		drop()
	})
	return db, url
}

// TestOtherDriversEnqueueAndAdminister runs, on each driver and table
// generation, what a Client on another driver does: migrate, enqueue (one,
// in a transaction, in batches, unique), read stats and lists, snooze,
// pause, cancel, delete and retry, lock a job by hand; then a pool on that
// driver works some of the jobs (writing through Job.Tx, failing each
// first run) beside a pool on pgx v4 that works the others, each job once,
// with no lock or transaction left behind.
func TestOtherDriversEnqueueAndAdminister(t *testing.T) {
	for _, driver := range drivers {
		for _, gen := range generations {
			t.Run(driver+"/"+gen.name, func(t *testing.T) {
				t.Parallel()
				testDriver(t, driver, gen.migrate)
			})
		}
	}
}

func testDriver(t *testing.T, driver string, migrate func(context.Context, *sql.DB) error) {
	ctx := context.Background()
	db, url := scratch(t, driver)
	if err := migrate(ctx, db); err != nil {
		t.Fatalf("migrate through %s: %v", driver, err)
	}
	if err := qg.EnableUniqueJobs(ctx, db); err != nil {
		t.Fatalf("EnableUniqueJobs through %s: %v", driver, err)
	}
	c, err := qg.NewClient2(db)
	if err != nil {
		t.Fatalf("NewClient2 on %s: %v", driver, err)
	}
	defer c.Close()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s on %s: %v", what, driver, err)
		}
	}
	const queue = "drivers"
	one := &qg.Job{Queue: queue, Type: "Work", Args: qg.MustArgs(1, "one")}
	must("Enqueue", c.Enqueue(one))
	later := &qg.Job{Queue: queue, Type: "Work", Args: qg.MustArgs(2), RunAt: time.Now().Add(time.Hour), Priority: 5}
	must("Enqueue with run_at", c.Enqueue(later))
	tx, err := db.Begin()
	must("Begin", err)
	must("EnqueueInTx", c.EnqueueInTx(&qg.Job{Queue: queue, Type: "Work", Args: qg.MustArgs(3)}, tx))
	must("EnqueueBatchInTx", c.EnqueueBatchInTx(ctx, []*qg.Job{{Queue: queue, Type: "Work", Args: qg.MustArgs(4)}}, tx))
	must("Commit", tx.Commit())
	tx, err = db.Begin()
	must("Begin", err)
	must("EnqueueInTx", c.EnqueueInTx(&qg.Job{Queue: queue, Type: "RolledBack"}, tx))
	must("Rollback", tx.Rollback())
	batch := []*qg.Job{{Queue: queue, Type: "Work", Args: qg.MustArgs(5)}, {Queue: queue, Type: "Work", Args: qg.MustArgs(`"quoted, {braced}"`)}}
	must("EnqueueBatch", c.EnqueueBatch(ctx, batch))
	first := &qg.Job{Queue: queue, Type: "Work", Args: qg.MustArgs(7), UniqueKey: "seven"}
	must("unique Enqueue", c.Enqueue(first))
	again := &qg.Job{Queue: queue, Type: "Work", Args: qg.MustArgs(7), UniqueKey: "seven"}
	must("unique Enqueue again", c.Enqueue(again))
	if !again.Duplicate || again.ID != first.ID {
		t.Errorf("second unique enqueue: duplicate %v, id %d; want a duplicate of %d", again.Duplicate, again.ID, first.ID)
	}
	stats, err := c.StatsContext(ctx)
	must("Stats", err)
	if len(stats) == 0 {
		t.Error("Stats: no row for the queue")
	}
	listed, err := c.ListJobs(ctx, qg.JobFilter{Queues: []string{queue}, Types: []string{"Work"}})
	must("ListJobs", err)
	if len(listed) != 7 {
		t.Errorf("ListJobs: %d jobs, want 7", len(listed))
	}
	found, err := c.FindJob(ctx, one.ID)
	must("FindJob", err)
	if found == nil || string(found.Args) != `[1, "one"]` && string(found.Args) != `[1,"one"]` {
		t.Errorf("FindJob(%d) = %+v", one.ID, found)
	}
	must("SnoozeJob", c.SnoozeJob(ctx, batch[0].ID, time.Millisecond))
	must("PauseQueue", c.PauseQueue(ctx, "paused"))
	paused, err := c.PausedQueues(ctx)
	must("PausedQueues", err)
	if len(paused) != 1 {
		t.Errorf("PausedQueues: %v", paused)
	}
	must("ResumeQueue", c.ResumeQueue(ctx, "paused"))
	cancelled := &qg.Job{Queue: queue, Type: "Cancelled"}
	must("Enqueue", c.Enqueue(cancelled))
	if _, err := c.CancelJob(ctx, cancelled.ID); err != nil {
		t.Errorf("CancelJob on %s: %v", driver, err)
	}
	gone := &qg.Job{Queue: queue, Type: "Deleted"}
	must("Enqueue", c.Enqueue(gone))
	must("DeleteJob", c.DeleteJob(ctx, gone.ID))
	must("RetryJob", c.RetryJob(ctx, later.ID)) // due now

	// A bare LockJob on this driver: Delete and Done.
	bare := &qg.Job{Queue: "bare", Type: "Work"}
	must("Enqueue", c.Enqueue(bare))
	locked, err := c.LockJob("bare")
	must("LockJob", err)
	if locked == nil || locked.ID != bare.ID {
		t.Fatalf("LockJob on %s = %+v, want job %d", driver, locked, bare.ID)
	}
	must("Delete", locked.Delete())
	locked.Done()

	// Half the jobs a pool on this driver works, the other half one on
	// pgx v4: each job once, its effect committed with its deletion.
	if _, err := db.Exec(`CREATE TABLE effects (arg text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	ran := workPool(t, db, queue, 4)
	// At least 4: a job in flight when the pool shut down finished too.
	byDriver := len(ran)
	ranV4 := workWithPgxV4(t, url, queue, 7-byDriver)
	for arg, n := range ranV4 {
		ran[arg] += n
	}
	if len(ran) != 7 {
		t.Errorf("%d distinct jobs ran, want 7: %v", len(ran), ran)
	}
	for arg, n := range ran {
		if n != 1 {
			t.Errorf("the job with args %s ran %d times", arg, n)
		}
	}
	var effects int
	must("count effects", db.QueryRow(`SELECT count(*) FROM effects`).Scan(&effects))
	if effects != byDriver {
		t.Errorf("%d effects committed by the %s pool, want %d (the jobs it worked)", effects, driver, byDriver)
	}
	assertClean(t, db)
}

// workPool works n jobs of queue with a pool on db, each writing its effect
// through Job.Tx, the first run of each failing once, and returns how often
// each job's args ran to success.
func workPool(t *testing.T, db *sql.DB, queue string, n int) map[string]int {
	t.Helper()
	c, err := qg.NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	ran := map[string]int{}
	failed := map[int64]bool{}
	done := make(chan struct{})
	p := qg.NewWorkerPool(c, qg.WorkMap{"Work": func(j *qg.Job) error {
		mu.Lock()
		first := !failed[j.ID]
		failed[j.ID] = true
		mu.Unlock()
		if _, err := j.Tx().ExecContext(j.Context(), `INSERT INTO effects (arg) VALUES ($1)`, string(j.Args)); err != nil {
			return err
		}
		if first {
			return qg.RetryIn(10*time.Millisecond, errors.New("first run fails"))
		}
		mu.Lock()
		defer mu.Unlock()
		ran[string(j.Args)]++
		if len(ran) == n {
			close(done)
		}
		return nil
	}}, 3)
	p.Queue, p.Interval = queue, 20*time.Millisecond
	p.Start()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Errorf("the pool worked %d of %d jobs", len(ran), n)
	}
	p.Shutdown()
	mu.Lock()
	defer mu.Unlock()
	return ran
}

// assertClean checks that no advisory lock is held and no session is left
// inside a transaction in db's database.
func assertClean(t *testing.T, db *sql.DB) {
	t.Helper()
	var locks, inTx int
	err := db.QueryRow(`SELECT
  (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())),
  (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%')`).Scan(&locks, &inTx)
	if err != nil {
		t.Fatal(err)
	}
	if locks != 0 || inTx != 0 {
		t.Errorf("%d advisory locks held and %d sessions idle in a transaction after the pools stopped", locks, inTx)
	}
}

// workWithPgxV4 works queue with a pool on pgx v4 until want jobs ran, and
// returns how often each job's args ran.
func workWithPgxV4(t *testing.T, url, queue string, want int) map[string]int {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := qg.NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	ran := map[string]int{}
	done := make(chan struct{})
	p := qg.NewWorkerPool(c, qg.WorkMap{"Work": func(j *qg.Job) error {
		mu.Lock()
		defer mu.Unlock()
		ran[string(j.Args)]++
		if len(ran) == want {
			close(done)
		}
		return nil
	}}, 4)
	p.Queue, p.Interval = queue, 20*time.Millisecond
	p.Start()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Errorf("pgx v4 worked %d of the %d jobs the other driver wrote", len(ran), want)
	}
	p.Shutdown()
	mu.Lock()
	defer mu.Unlock()
	return ran
}

// BenchmarkEnqueue enqueues one job per op on each driver, pgx v4's
// included, through a Client of its own: what enqueuing from a service on
// another driver costs.
func BenchmarkEnqueue(b *testing.B) {
	for _, driver := range append([]string{"pgx"}, drivers...) {
		b.Run(driver, func(b *testing.B) {
			c, _, _ := migrated(b, driver)
			b.ResetTimer()
			for range b.N {
				if err := c.Enqueue(&qg.Job{Type: "Bench", Args: qg.MustArgs(1)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEnqueueBatch enqueues 100 jobs per op on each driver.
func BenchmarkEnqueueBatch(b *testing.B) {
	for _, driver := range append([]string{"pgx"}, drivers...) {
		b.Run(driver, func(b *testing.B) {
			c, _, _ := migrated(b, driver)
			ctx := context.Background()
			jobs := make([]*qg.Job, 100)
			b.ResetTimer()
			for range b.N {
				for i := range jobs {
					jobs[i] = &qg.Job{Type: "Bench", Args: qg.MustArgs(i)}
				}
				if err := c.EnqueueBatch(ctx, jobs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOtherDriversLostSession ends the session of a running job on each
// driver: the lock goes with it, the job's work rolls back, and the job
// runs again and finishes, its effect committed once.
func TestOtherDriversLostSession(t *testing.T) {
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			c, db, _ := migrated(t, driver)
			if _, err := db.Exec(`CREATE TABLE effects (arg text NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			job := &qg.Job{Queue: "lost", Type: "Lost"}
			if err := c.Enqueue(job); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			runs := 0
			done := make(chan struct{})
			p := qg.NewWorkerPool(c, qg.WorkMap{"Lost": func(j *qg.Job) error {
				mu.Lock()
				runs++
				first := runs == 1
				mu.Unlock()
				if _, err := j.Tx().ExecContext(j.Context(), `INSERT INTO effects (arg) VALUES ('lost')`); err != nil {
					return err
				}
				if first {
					_, err := j.Tx().ExecContext(j.Context(), `SELECT pg_terminate_backend(pg_backend_pid())`)
					return fmt.Errorf("ended its own session: %v", err)
				}
				close(done)
				return nil
			}}, 2)
			p.Queue, p.Interval = "lost", 20*time.Millisecond
			p.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
			p.Start()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the job did not run again after its session ended")
			}
			p.Shutdown()
			var effects, left int
			if err := db.QueryRow(`SELECT (SELECT count(*) FROM effects), (SELECT count(*) FROM que_jobs)`).Scan(&effects, &left); err != nil {
				t.Fatal(err)
			}
			if effects != 1 || left != 0 {
				t.Errorf("%d effects committed and %d jobs left, want 1 and 0", effects, left)
			}
			assertClean(t, db)
		})
	}
}

// BenchmarkWork drains b.N ready jobs with a pool of 4 on each driver,
// pgx v4's included: ns/op is the time per job worked (each deleted in its
// transaction, as a Worker does).
func BenchmarkWork(b *testing.B) {
	for _, driver := range append([]string{"pgx"}, drivers...) {
		b.Run(driver, func(b *testing.B) {
			c, _, _ := migrated(b, driver)
			ctx := context.Background()
			jobs := make([]*qg.Job, b.N)
			for i := range jobs {
				jobs[i] = &qg.Job{Type: "Bench"}
			}
			if err := c.EnqueueBatch(ctx, jobs); err != nil {
				b.Fatal(err)
			}
			var mu sync.Mutex
			left := b.N
			done := make(chan struct{})
			p := qg.NewWorkerPool(c, qg.WorkMap{"Bench": func(*qg.Job) error {
				mu.Lock()
				defer mu.Unlock()
				if left--; left == 0 {
					close(done)
				}
				return nil
			}}, 4)
			p.Interval = 10 * time.Millisecond
			b.ResetTimer()
			p.Start()
			<-done
			b.StopTimer()
			p.Shutdown()
		})
	}
}

// TestOtherDriversReuseConnections works 40 jobs with 2 workers on each
// driver and checks they ran on a few server sessions: a finished job's
// connection goes back to the pool (it is idle, as the server says) rather
// than being closed. The pool asks for Listen and Batch, which need pgx v4:
// it warns, and works one job per connection, polling.
func TestOtherDriversReuseConnections(t *testing.T) {
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c, _, _ := migrated(t, driver)
			const n = 40
			jobs := make([]*qg.Job, n)
			for i := range jobs {
				jobs[i] = &qg.Job{Queue: "reuse", Type: "Pid"}
			}
			if err := c.EnqueueBatch(ctx, jobs); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			pids := map[int]bool{}
			count := 0
			done := make(chan struct{})
			p := qg.NewWorkerPool(c, qg.WorkMap{"Pid": func(j *qg.Job) error {
				var pid int
				if err := j.Tx().QueryRowContext(j.Context(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				pids[pid] = true
				if count++; count == n {
					close(done)
				}
				return nil
			}}, 2)
			var log bytes.Buffer
			p.Queue, p.Interval = "reuse", 20*time.Millisecond
			// Neither can run on this driver: the pool says so and polls.
			p.Listen, p.Batch = true, 8
			p.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: &log}, nil))
			p.Start()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the jobs were not worked")
			}
			p.Shutdown()
			if len(pids) > 6 {
				t.Errorf("%d jobs ran on %d server sessions: connections are not reused", n, len(pids))
			}
			if !strings.Contains(log.String(), "Listen and Batch need the pgx v4 stdlib driver") {
				t.Errorf("no warning of Listen and Batch on %s: %q", driver, log.String())
			}
		})
	}
}

// syncWriter serializes writes to w, for a logger shared by goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestOtherDriversShutdownReleasesStuckJob: a WorkFunc that ignores its
// context holds the pool's only connection when a shutdown gives up
// waiting. The job must be released all the same (its connection closed,
// so its session and lock end), another client must be able to take it,
// and the abandoned run's work must not commit.
func TestOtherDriversShutdownReleasesStuckJob(t *testing.T) {
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c, db, url := migrated(t, driver)
			if _, err := db.Exec(`CREATE TABLE effects (arg text NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			db.SetMaxOpenConns(1)
			job := &qg.Job{Queue: "stuck", Type: "Stuck"}
			if err := c.Enqueue(job); err != nil {
				t.Fatal(err)
			}
			started, release := make(chan struct{}), make(chan struct{})
			p := qg.NewWorkerPool(c, qg.WorkMap{"Stuck": func(j *qg.Job) error {
				if _, err := j.Tx().ExecContext(ctx, `INSERT INTO effects (arg) VALUES ('abandoned')`); err != nil {
					return err
				}
				close(started)
				<-release // ignores its context
				return nil
			}}, 1)
			p.Queue, p.Interval = "stuck", 20*time.Millisecond
			p.Start()
			<-started
			sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			if err := p.ShutdownContext(sctx); err == nil {
				t.Fatal("ShutdownContext returned nil with a job still running")
			}
			other, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			oc, err := qg.NewClient2(other)
			if err != nil {
				t.Fatal(err)
			}
			defer oc.Close()
			var again *qg.Job
			deadline := time.Now().Add(15 * time.Second)
			for again == nil && time.Now().Before(deadline) {
				if again, err = oc.LockJob("stuck"); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			close(release)
			if again == nil {
				t.Fatal("no other client could take the job after the shutdown released it")
			}
			if err := again.Delete(); err != nil {
				t.Fatal(err)
			}
			again.Done()
			var effects int
			if err := other.QueryRow(`SELECT count(*) FROM effects`).Scan(&effects); err != nil {
				t.Fatal(err)
			}
			if effects != 0 {
				t.Errorf("the abandoned run committed %d effects", effects)
			}
		})
	}
}
