package qg

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/stdlib"
)

func TestEnqueueDefaults(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "x"})
	var priority int
	var args string
	var ago float64
	err := testDB.QueryRow(`SELECT priority, args::text, extract(epoch FROM now() - run_at)::float8
FROM que_jobs WHERE job_id = $1`, j.ID).Scan(&priority, &args, &ago)
	if err != nil {
		t.Fatal(err)
	}
	if priority != 100 || args != "[]" || ago < 0 || ago > 5 || j.Priority != 100 || j.RunAt.IsZero() {
		t.Fatalf("priority %d args %s run_at %.1fs ago; job %+v", priority, args, ago, j)
	}
}

func TestEnqueueValidation(t *testing.T) {
	c, q := setup(t)
	if err := c.Enqueue(&Job{Queue: q}); err != ErrMissingType {
		t.Fatalf("missing type: %v, want ErrMissingType itself", err)
	}
	err := c.Enqueue(&Job{Queue: q, Type: "x", Args: []byte(`[1,`)})
	if !errors.Is(err, ErrInvalidArgs) {
		t.Fatalf("bad JSON: %v", err)
	}
	if countJobs(t, q) != 0 {
		t.Fatal("an invalid job was written")
	}
}

func TestEnqueueInTxCommitAndRollback(t *testing.T) {
	c, q := setup(t)
	// An application pool of its own, never prepared by qg.
	app := openDB(t)
	tx, err := app.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnqueueInTx(&Job{Queue: q, Type: "rolled_back"}, tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if countJobs(t, q) != 0 {
		t.Fatal("job of a rolled back transaction exists")
	}
	tx, err = app.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnqueueInTxContext(context.Background(), &Job{Queue: q, Type: "committed"}, tx); err != nil {
		t.Fatal(err)
	}
	if countJobs(t, q) != 0 {
		t.Fatal("job visible before commit")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	j := mustLock(t, c, q)
	defer j.Done()
	if j.Type != "committed" {
		t.Fatalf("locked %q", j.Type)
	}
	if err := j.Delete(); err != nil {
		t.Fatal(err)
	}
}

func TestPrepareStatementsInAfterConnect(t *testing.T) {
	_, q := setup(t)
	var prepared int
	db := openDB(t, stdlib.OptionAfterConnect(func(ctx context.Context, conn *pgx.Conn) error {
		prepared++
		return PrepareStatements(conn)
	}))
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exerciseClient(t, c, q)
	if prepared == 0 {
		t.Fatal("the after-connect hook never ran")
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%que_jobs%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < len(que0.statements())-1 {
		t.Fatalf("%d qg statements prepared on the connection", n)
	}
}

func TestWithoutPreparedStatementsOrCache(t *testing.T) {
	_, q := setup(t)
	cfg, err := pgxConfig(testURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.BuildStatementCache = nil // no automatic preparing either
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exerciseClient(t, c, q)
}

// exerciseClient runs every kind of statement once through c.
func exerciseClient(t *testing.T, c *Client, q string) {
	t.Helper()
	enqueue(t, c, &Job{Queue: q, Type: "a", Args: []byte(`[1]`)})
	enqueue(t, c, &Job{Queue: q, Type: "b", RunAt: time.Now().Add(-time.Second)})
	if _, err := c.Stats(); err != nil {
		t.Fatal(err)
	}
	j := mustLock(t, c, q)
	if err := j.Error("failed once"); err != nil {
		t.Fatal(err)
	}
	j.Done()
	w := newTestWorker(c, q, WorkMap{"b": func(j *Job) error { return nil }})
	if !w.WorkOne() {
		t.Fatal("worker found no job")
	}
	if _, err := testDB.Exec(`DELETE FROM que_jobs WHERE queue = $1`, q); err != nil {
		t.Fatal(err)
	}
}

func TestWorkFuncWithInjectedTx(t *testing.T) {
	_, q := setup(t)
	// The WorkFunc under test, as a user would write it.
	markPaid := func(j *Job) error {
		var id int64
		if err := j.DecodeArgs(&id); err != nil {
			return err
		}
		_, err := j.Tx().Exec(`INSERT INTO inject_paid (invoice_id) VALUES ($1)`, id)
		return err
	}
	if _, err := testDB.Exec(`CREATE TABLE IF NOT EXISTS inject_paid (invoice_id bigint)`); err != nil {
		t.Fatal(err)
	}
	tx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	j := TestInjectJobTx(&Job{Queue: q, Type: "MarkPaid", Args: []byte(`[42]`)}, tx)
	if err := markPaid(j); err != nil {
		t.Fatal(err)
	}
	if err := j.Delete(); err != nil { // a no-op row-wise, but it runs in tx
		t.Fatal(err)
	}
	j.Done() // leaves the caller's transaction alone
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM inject_paid WHERE invoice_id = 42`).Scan(&n); err != nil {
		t.Fatalf("the injected transaction was closed: %v", err)
	}
	if n != 1 {
		t.Fatalf("%d rows", n)
	}
}

func TestWorkFuncWithInjectedConn(t *testing.T) {
	c, q := setup(t)
	conn, err := pgx.Connect(context.Background(), testURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	stored := enqueue(t, c, &Job{Queue: q, Type: "x", Priority: 3})
	j := TestInjectJobConn(&Job{ID: stored.ID, Queue: q, Priority: 3, RunAt: stored.RunAt, Type: "x"}, conn)
	var one int
	if err := j.Conn().QueryRow(context.Background(), `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Fatal(err)
	}
	if err := j.Error("recorded through the injected connection"); err != nil {
		t.Fatal(err)
	}
	if count, msg, _, _ := jobRow(t, stored.ID); count != 1 || msg == "" {
		t.Fatalf("count %d msg %q", count, msg)
	}
	if err := j.Delete(); err != nil {
		t.Fatal(err)
	}
	j.Done()
	if countJobs(t, q) != 0 {
		t.Fatal("not deleted through the injected connection")
	}
}

func TestEnqueueInJobTx(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "Parent", Priority: 1})
	enqueue(t, c, &Job{Queue: q, Type: "ParentFails", Priority: 2})
	w := newTestWorker(c, q, WorkMap{
		"Parent": func(j *Job) error {
			return c.EnqueueIn(j.Context(), &Job{Queue: q + "_next", Type: "Child"}, j.Tx())
		},
		"ParentFails": func(j *Job) error {
			if err := c.EnqueueIn(j.Context(), &Job{Queue: q + "_next", Type: "Orphan"}, j.Tx()); err != nil {
				return err
			}
			return errors.New("undo the follow-up")
		},
	})
	w.WorkOne()
	w.WorkOne()
	var types string
	if err := testDB.QueryRow(`SELECT string_agg(job_class, ',') FROM que_jobs WHERE queue = $1`, q+"_next").Scan(&types); err != nil {
		t.Fatal(err)
	}
	if types != "Child" {
		t.Fatalf("follow-ups committed: %q, want Child only", types)
	}
	_, _ = testDB.Exec(`DELETE FROM que_jobs WHERE queue = $1`, q+"_next")
}

func TestEnqueueAfterCloseFails(t *testing.T) {
	c, q := setup(t)
	c.Close()
	tx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	ctx := context.Background()
	job := func() *Job { return &Job{Queue: q, Type: "x"} }
	errs := map[string]error{
		"Enqueue":          c.Enqueue(job()),
		"EnqueueInTx":      c.EnqueueInTx(job(), tx),
		"EnqueueIn a Tx":   c.EnqueueIn(ctx, job(), tx),
		"EnqueueIn a DB":   c.EnqueueIn(ctx, job(), testDB),
		"EnqueueBatch":     c.EnqueueBatch(ctx, []*Job{job()}),
		"EnqueueBatchInTx": c.EnqueueBatchInTx(ctx, []*Job{job()}, tx),
	}
	for name, err := range errs {
		if !errors.Is(err, ErrClientClosed) {
			t.Errorf("%s after Close: %v, want ErrClientClosed", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := countJobs(t, q); n != 0 {
		t.Fatalf("%d jobs enqueued by a closed Client", n)
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
