package drivertest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
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
// pause, cancel, delete and retry; LockJob and a WorkerPool refuse with
// ErrDriver. Then a Client on pgx v4 works every job the other driver
// wrote, each once.
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

	if _, err := c.LockJob(queue); !errors.Is(err, qg.ErrDriver) {
		t.Errorf("LockJob on %s = %v, want ErrDriver", driver, err)
	}
	p := qg.NewWorkerPool(c, qg.WorkMap{}, 2)
	p.Queue = queue
	if err := p.Run(ctx); !errors.Is(err, qg.ErrDriver) {
		t.Errorf("WorkerPool.Run on %s = %v, want ErrDriver", driver, err)
	}

	worked := workWithPgxV4(t, url, queue, 7)
	for arg, n := range worked {
		if n != 1 {
			t.Errorf("the job with args %s ran %d times", arg, n)
		}
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
			db, _ := scratch(b, driver)
			ctx := context.Background()
			if err := qg.Migrate(ctx, db); err != nil {
				b.Fatal(err)
			}
			c, err := qg.NewClient2(db)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
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
			db, _ := scratch(b, driver)
			ctx := context.Background()
			if err := qg.Migrate(ctx, db); err != nil {
				b.Fatal(err)
			}
			c, err := qg.NewClient2(db)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
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
