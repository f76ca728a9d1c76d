// Command example runs qg end to end against a real PostgreSQL: it enqueues
// a few hundred jobs of two Ruby-style job classes into a queue of its own
// (one batch inside a transaction of its own, next to a row of its own
// table), works them with a WorkerPool whose WorkFuncs write through the
// job's transaction, prints a summary and cleans up after itself.
//
//	go run ./example          (or: make example, which starts PostgreSQL first)
//
// QG_DATABASE_URL names the server; the default is
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v4/stdlib" // registers the "pgx" database/sql driver

	"github.com/qg-go/qg"
)

const (
	defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	queue      = "example" // the example's own queue: it never touches other queues' jobs
	workers    = 4
	emails     = 200 // SendEmail jobs, enqueued one by one
	charges    = 100 // Billing::ChargeCard jobs, enqueued in one transaction
	timeout    = 60 * time.Second

	// The example's own tables, dropped when it ends.
	ordersTable  = "qg_example_orders"
	effectsTable = "qg_example_effects"
)

// firstUserID is 2^53 + 1, the first integer a float64 cannot hold. Ruby
// writes such integers exactly; DecodeArgs keeps every digit, which the
// summary checks.
const firstUserID = int64(1)<<53 + 1

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "example: FAILED: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	start := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	dbURL := os.Getenv("QG_DATABASE_URL")
	if dbURL == "" {
		dbURL = defaultURL
	}
	db, err := open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()

	createdQueJobs, err := migrate(ctx, db)
	if err != nil {
		return err
	}
	if err := createTables(ctx, db); err != nil {
		return err
	}
	defer cleanup(db, createdQueJobs)

	c, err := qg.NewClient2(db)
	if err != nil {
		return err
	}
	defer c.Close()

	var worked atomic.Int64
	pool := qg.NewWorkerPool(c, workMap(&worked), workers)
	pool.Queue = queue                     // not QUE_QUEUE: the example keeps to its own queue
	pool.Interval = 100 * time.Millisecond // not QUE_WAKE_INTERVAL: look again soon when idle
	pool.Start()
	fmt.Printf("started a WorkerPool of %d workers on queue %q\n", workers, queue)
	defer shutdown(pool)

	if err := enqueueEmails(ctx, c); err != nil {
		return err
	}
	if err := enqueueChargesInTx(ctx, c, db); err != nil {
		return err
	}
	if err := showRollback(ctx, c, db); err != nil {
		return err
	}
	fmt.Printf("enqueued %d jobs; working them\n", emails+charges)

	if err := waitForEmptyQueue(ctx, c); err != nil {
		return err
	}
	if err := shutdown(pool); err != nil {
		return err
	}
	return summarize(ctx, c, db, time.Since(start))
}

// open opens the pool with the pgx stdlib driver and checks the server
// answers. Each job in flight pins one connection, so the pool allows one per
// worker plus two for enqueueing and Stats.
func open(ctx context.Context, dbURL string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redact(dbURL), err)
	}
	db.SetMaxOpenConns(workers + 2)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s: %w\n"+
			"start one with `make db` (a local cluster or docker compose), "+
			"or set QG_DATABASE_URL to a server you have", redact(dbURL), err)
	}
	return db, nil
}

// migrate runs qg.Migrate and reports whether que_jobs was created by it, so
// cleanup can leave the database as it found it.
func migrate(ctx context.Context, db *sql.DB) (created bool, err error) {
	var existed bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('que_jobs') IS NOT NULL`).Scan(&existed); err != nil {
		return false, fmt.Errorf("look for que_jobs: %w", err)
	}
	if err := qg.Migrate(ctx, db); err != nil {
		return false, err
	}
	if !existed {
		fmt.Println("created que_jobs (Ruby Que 0.x layout, schema version 3)")
	}
	return !existed, nil
}

// createTables creates the example's own tables, and clears what an earlier
// run that was killed may have left.
func createTables(ctx context.Context, db *sql.DB) error {
	stmts := []string{
		`DROP TABLE IF EXISTS ` + effectsTable + `, ` + ordersTable,
		`CREATE TABLE ` + ordersTable + ` (id bigserial PRIMARY KEY, note text NOT NULL)`,
		// One row per job worked: the primary key would refuse a job whose
		// work committed twice.
		`CREATE TABLE ` + effectsTable + ` (
  job_id    bigint PRIMARY KEY,
  job_class text   NOT NULL,
  user_id   bigint,
  detail    text   NOT NULL
)`,
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("create the example's tables: %w", err)
		}
	}
	res, err := db.ExecContext(ctx, `DELETE FROM que_jobs WHERE queue = $1`, queue)
	if err != nil {
		return fmt.Errorf("clear queue %q: %w", queue, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		fmt.Printf("removed %d jobs an earlier run left in queue %q\n", n, queue)
	}
	return nil
}

// workMap routes the two job classes to their WorkFuncs. Each decodes its
// Ruby-style args with DecodeArgs and writes its effect through j.Tx(), the
// job's transaction on the connection holding the job's lock: the effect and
// the job's deletion commit together.
func workMap(worked *atomic.Int64) qg.WorkMap {
	progress := func() {
		if n := worked.Add(1); n%100 == 0 {
			fmt.Printf("  progress: %d jobs worked\n", n)
		}
	}
	return qg.WorkMap{
		"SendEmail": func(j *qg.Job) error {
			// [user_id, "subject"], as Ruby's SendEmail#run(user_id, subject).
			var userID int64
			var subject string
			if err := j.DecodeArgs(&userID, &subject); err != nil {
				return err
			}
			if userID == 0 || subject == "" {
				return fmt.Errorf("SendEmail wants [user_id, subject], got %s", j.Args)
			}
			detail := fmt.Sprintf("mail to user %d: %s", userID, subject)
			if err := recordEffect(j, userID, detail); err != nil {
				return err
			}
			progress()
			return nil
		},
		"Billing::ChargeCard": func(j *qg.Job) error {
			// [{"cents": N, "order_id": M}]: one hash argument, as Ruby's
			// Billing::ChargeCard#run(opts).
			var card struct {
				Cents   int64 `json:"cents"`
				OrderID int64 `json:"order_id"`
			}
			if err := j.DecodeArgs(&card); err != nil {
				return err
			}
			if card.Cents <= 0 {
				return fmt.Errorf(`Billing::ChargeCard wants [{"cents": N}], got %s`, j.Args)
			}
			detail := fmt.Sprintf("charged %d cents for order %d", card.Cents, card.OrderID)
			if err := recordEffect(j, nil, detail); err != nil {
				return err
			}
			progress()
			return nil
		},
	}
}

// recordEffect writes the job's effect in the job's transaction.
func recordEffect(j *qg.Job, userID any, detail string) error {
	_, err := j.Tx().ExecContext(j.Context(),
		`INSERT INTO `+effectsTable+` (job_id, job_class, user_id, detail) VALUES ($1, $2, $3, $4)`,
		j.ID, j.Type, userID, detail)
	return err
}

// enqueueEmails enqueues the SendEmail jobs one by one with Enqueue.
func enqueueEmails(ctx context.Context, c *qg.Client) error {
	for i := range emails {
		args, err := qg.Args(firstUserID+int64(i), fmt.Sprintf("Welcome #%d", i+1))
		if err != nil {
			return err
		}
		j := &qg.Job{Queue: queue, Type: "SendEmail", Args: args}
		if err := c.EnqueueContext(ctx, j); err != nil {
			return err
		}
	}
	fmt.Printf("enqueued %d SendEmail jobs with Enqueue\n", emails)
	return nil
}

// enqueueChargesInTx inserts an order and its ChargeCard jobs in one
// transaction: the order and the jobs exist together or not at all.
func enqueueChargesInTx(ctx context.Context, c *qg.Client, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin order transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var orderID int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO `+ordersTable+` (note) VALUES ($1) RETURNING id`,
		fmt.Sprintf("%d card charges", charges)).Scan(&orderID); err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	for i := range charges {
		args, err := json.Marshal([]any{map[string]any{"cents": 100 * (i + 1), "order_id": orderID}})
		if err != nil {
			return err
		}
		j := &qg.Job{Queue: queue, Type: "Billing::ChargeCard", Args: args}
		if err := c.EnqueueInTxContext(ctx, j, tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit order transaction: %w", err)
	}
	fmt.Printf("enqueued %d Billing::ChargeCard jobs with EnqueueInTx, committed with order %d\n", charges, orderID)
	return nil
}

// showRollback enqueues a job in a transaction that rolls back, and checks
// the job is gone with it.
func showRollback(ctx context.Context, c *qg.Client, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	j := &qg.Job{Queue: queue, Type: "Billing::ChargeCard", Args: []byte(`[{"cents": 1}]`)}
	if err := c.EnqueueInTxContext(ctx, j, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Rollback(); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM que_jobs WHERE job_id = $1)`, j.ID).Scan(&exists); err != nil {
		return fmt.Errorf("look for rolled back job: %w", err)
	}
	if exists {
		return fmt.Errorf("job %d enqueued in a rolled back transaction exists", j.ID)
	}
	fmt.Printf("enqueued job %d in a transaction that rolled back: it is gone with it\n", j.ID)
	return nil
}

// waitForEmptyQueue polls Stats until the example's queue has no job left.
func waitForEmptyQueue(ctx context.Context, c *qg.Client) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := c.StatsContext(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		left := queueStats(s)
		if err == nil && left.Count == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %d jobs still in queue %q (%d errored; last stats %+v): %w",
				timeout, left.Count, queue, left.CountErrored, s, ctx.Err())
		case <-tick.C:
		}
	}
}

// queueStats sums the Stats rows of the example's queue.
func queueStats(stats []qg.JobStats) qg.JobStats {
	sum := qg.JobStats{Queue: queue}
	for _, s := range stats {
		if s.Queue != queue {
			continue
		}
		sum.Count += s.Count
		sum.CountWorking += s.CountWorking
		sum.CountErrored += s.CountErrored
	}
	return sum
}

// shutdown stops the pool, waiting at most 10 seconds for running jobs. It
// is called twice on the success path, which ShutdownContext allows.
func shutdown(pool *qg.WorkerPool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pool.ShutdownContext(ctx); err != nil {
		return fmt.Errorf("shut down the worker pool: %w", err)
	}
	return nil
}

// summarize prints what was worked and checks every job's effect committed
// exactly once.
func summarize(ctx context.Context, c *qg.Client, db *sql.DB, took time.Duration) error {
	rows, err := db.QueryContext(ctx, `SELECT job_class, count(*) FROM `+effectsTable+` GROUP BY job_class`)
	if err != nil {
		return fmt.Errorf("count effects: %w", err)
	}
	defer rows.Close()
	perType := map[string]int{}
	for rows.Next() {
		var class string
		var n int
		if err := rows.Scan(&class, &n); err != nil {
			return fmt.Errorf("count effects: %w", err)
		}
		perType[class] = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count effects: %w", err)
	}
	var minUser, maxUser sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT min(user_id), max(user_id) FROM `+effectsTable).
		Scan(&minUser, &maxUser); err != nil {
		return fmt.Errorf("read user ids: %w", err)
	}
	stats, err := c.StatsContext(ctx)
	if err != nil {
		return err
	}

	fmt.Printf("\nsummary (took %s):\n", took.Round(time.Millisecond))
	classes := make([]string, 0, len(perType))
	for class := range perType {
		classes = append(classes, class)
	}
	sort.Strings(classes)
	for _, class := range classes {
		fmt.Printf("  %-20s %d jobs worked, each effect committed with the job's deletion\n", class, perType[class])
	}
	fmt.Printf("  user ids %d..%d (beyond 2^53) came through DecodeArgs exactly\n", minUser.Int64, maxUser.Int64)
	left := queueStats(stats)
	fmt.Printf("  Stats() for queue %q: %d jobs, %d working, %d errored\n",
		queue, left.Count, left.CountWorking, left.CountErrored)

	var errs []error
	if perType["SendEmail"] != emails {
		errs = append(errs, fmt.Errorf("SendEmail: %d effects, want %d", perType["SendEmail"], emails))
	}
	if perType["Billing::ChargeCard"] != charges {
		errs = append(errs, fmt.Errorf("Billing::ChargeCard: %d effects, want %d", perType["Billing::ChargeCard"], charges))
	}
	if minUser.Int64 != firstUserID || maxUser.Int64 != firstUserID+emails-1 {
		errs = append(errs, fmt.Errorf("user ids %d..%d, want %d..%d", minUser.Int64, maxUser.Int64, firstUserID, firstUserID+emails-1))
	}
	if left.Count != 0 {
		errs = append(errs, fmt.Errorf("queue %q still holds %d jobs", queue, left.Count))
	}
	return errors.Join(errs...)
}

// cleanup drops the example's tables and jobs, and que_jobs too when the
// example created it and it is empty. It runs on every path, on a context of
// its own so a timeout of the run does not stop it.
func cleanup(db *sql.DB, dropQueJobs bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stmts := []string{
		`DELETE FROM que_jobs WHERE queue = '` + queue + `'`,
		`DROP TABLE IF EXISTS ` + effectsTable + `, ` + ordersTable,
	}
	if dropQueJobs {
		stmts = append(stmts, `DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM que_jobs) THEN DROP TABLE que_jobs; END IF;
END $$`)
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			fmt.Fprintf(os.Stderr, "example: cleanup: %v\n", err)
			return
		}
	}
	fmt.Println("cleaned up: dropped the example's tables, no job left in queue " + queue)
}

// redact hides a password in a URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "QG_DATABASE_URL"
	}
	return u.Redacted()
}
