package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// uqRuns numbers the queues of uqSetup.
var uqRuns atomic.Int64

// uqSetup is setup with a queue of the test's own in every run, so that the
// tests pass again with -count=N on the same database: their unique keys
// derive from the queue.
func uqSetup(t *testing.T) (*Client, string) {
	t.Helper()
	c, q := setup(t)
	if err := EnableUniqueJobs(context.Background(), testDB); err != nil {
		t.Fatal(err)
	}
	return c, fmt.Sprintf("%s_%d", q, uqRuns.Add(1))
}

// uqEnqueue enqueues j and fails the test on error; it returns j.
func uqEnqueue(t *testing.T, c *Client, j *Job) *Job {
	t.Helper()
	if err := c.Enqueue(j); err != nil {
		t.Fatal(err)
	}
	return j
}

// uqWant checks the outcome of a unique enqueue: a duplicate of id, or a
// new job (id 0: any id but the ones in not).
func uqWant(t *testing.T, j *Job, duplicateOf int64, not ...int64) {
	t.Helper()
	if duplicateOf != 0 {
		if !j.Duplicate || j.ID != duplicateOf {
			t.Fatalf("Duplicate %v ID %d; want a duplicate of job %d", j.Duplicate, j.ID, duplicateOf)
		}
		return
	}
	if j.Duplicate || j.ID == 0 {
		t.Fatalf("Duplicate %v ID %d; want a new job", j.Duplicate, j.ID)
	}
	for _, id := range not {
		if j.ID == id {
			t.Fatalf("new job has the ID %d of an older one", id)
		}
	}
}

// uqRubyWork does to job id what a Ruby Que 0.14.3 worker does after a
// successful run: on a session of its own, it takes the job's advisory
// lock, deletes the row by its full key with Que's destroy_job statement,
// and unlocks.
func uqRubyWork(t *testing.T, id int64) {
	t.Helper()
	ctx := context.Background()
	conn, err := testDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var queue string
	var priority int16
	var runAt time.Time
	var locked bool
	err = conn.QueryRowContext(ctx, `SELECT queue, priority, run_at, pg_try_advisory_lock(job_id)
FROM que_jobs WHERE job_id = $1`, id).Scan(&queue, &priority, &runAt, &locked)
	if err != nil || !locked {
		t.Fatalf("ruby lock of job %d: locked %v, %v", id, locked, err)
	}
	_, err = conn.ExecContext(ctx, `DELETE FROM que_jobs WHERE queue = $1::text AND priority = $2::smallint
AND run_at = $3::timestamptz AND job_id = $4::bigint`, queue, priority, runAt, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, id).Scan(&locked); err != nil || !locked {
		t.Fatalf("ruby unlock of job %d: %v, %v", id, locked, err)
	}
}

// uqExpire moves the expiry of job id's key into the past, as if its
// UniqueFor had passed.
func uqExpire(t *testing.T, id int64) {
	t.Helper()
	res, err := testDB.Exec(`UPDATE qg_unique SET expires_at = now() - interval '1 second' WHERE job_id = $1`, id)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("expire key of job %d: %d rows, %v", id, n, err)
	}
}

func TestUniqueByArgsAndByKey(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	first := uqEnqueue(t, c, &Job{Queue: q, Type: "Sync", Args: []byte(`[{"a":1,"b":[1,2]}]`), Unique: true})
	uqWant(t, first, 0)
	same := uqEnqueue(t, c, &Job{Queue: q, Type: "Sync", Args: []byte(` [ { "b" : [1,2], "a" : 1 } ]`), Unique: true})
	uqWant(t, same, first.ID)
	for _, other := range []*Job{
		{Queue: q, Type: "Sync", Args: []byte(`[{"a":1.0,"b":[1,2]}]`), Unique: true}, // 1.0 is not 1
		{Queue: q, Type: "Other", Args: []byte(`[{"a":1,"b":[1,2]}]`), Unique: true},
		{Queue: q + "_2", Type: "Sync", Args: []byte(`[{"a":1,"b":[1,2]}]`), Unique: true},
		{Queue: q, Type: "Sync", Args: []byte(`[{"a":1,"b":[1,2]}]`)}, // not unique
	} {
		uqWant(t, uqEnqueue(t, c, other), 0, first.ID)
	}
	// Empty args are [].
	empty := uqEnqueue(t, c, &Job{Queue: q, Type: "Empty", Unique: true})
	uqWant(t, uqEnqueue(t, c, &Job{Queue: q, Type: "Empty", Args: []byte(`[]`), Unique: true}), empty.ID)

	// A caller's key is unique across queues and types, whatever the args.
	key := "report:" + q
	byKey := uqEnqueue(t, c, &Job{Queue: q, Type: "Report", Args: []byte(`[1]`), UniqueKey: key})
	uqWant(t, byKey, 0)
	uqWant(t, uqEnqueue(t, c, &Job{Queue: q + "_2", Type: "Other", Args: []byte(`[2]`), UniqueKey: key}), byKey.ID)
	if n := countJobs(t, q); n != 6 {
		t.Errorf("%d jobs in the queue, want 6", n)
	}
}

func TestUniqueReusedJobClearsDuplicate(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	first := uqEnqueue(t, c, &Job{Queue: q, Type: "T", UniqueKey: q})
	j := &Job{Queue: q, Type: "T", UniqueKey: q}
	uqWant(t, uqEnqueue(t, c, j), first.ID)
	j.UniqueKey = ""
	uqWant(t, uqEnqueue(t, c, j), 0, first.ID)
}

func TestUniqueFailedJobAwaitingRetryStaysUnique(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	j := uqEnqueue(t, c, &Job{Queue: q, Type: "Flaky", Unique: true})
	w := newTestWorker(c, q, WorkMap{"Flaky": func(*Job) error { return errors.New("try later") }})
	if !w.WorkOne() {
		t.Fatal("no job worked")
	}
	if count, _, delay, found := jobRow(t, j.ID); !found || count != 1 || delay <= 0 {
		t.Fatalf("job after failure: found %v count %d delay %.1f", found, count, delay)
	}
	uqWant(t, uqEnqueue(t, c, &Job{Queue: q, Type: "Flaky", Unique: true}), j.ID)
}

func TestUniqueWorkedByGoWorkerFreesKey(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	j := uqEnqueue(t, c, &Job{Queue: q, Type: "Ok", UniqueKey: q})
	w := newTestWorker(c, q, WorkMap{"Ok": func(*Job) error { return nil }})
	if !w.WorkOne() {
		t.Fatal("no job worked")
	}
	uqWant(t, uqEnqueue(t, c, &Job{Queue: q, Type: "Ok", UniqueKey: q}), 0, j.ID)
}

func TestUniqueWorkedByRubyWorker(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	j := uqEnqueue(t, c, &Job{Queue: q, Type: "SendEmail", Args: []byte(`[7]`), Unique: true})
	uqRubyWork(t, j.ID)
	again := uqEnqueue(t, c, &Job{Queue: q, Type: "SendEmail", Args: []byte(`[7]`), Unique: true})
	uqWant(t, again, 0, j.ID)

	// With UniqueFor the key stays taken after Ruby deleted the row, then
	// expires.
	held := uqEnqueue(t, c, &Job{Queue: q, Type: "SendEmail", Args: []byte(`[8]`), UniqueFor: time.Hour})
	uqRubyWork(t, held.ID)
	var left float64
	if err := testDB.QueryRow(`SELECT extract(epoch FROM expires_at - now()) FROM qg_unique WHERE job_id = $1`,
		held.ID).Scan(&left); err != nil || left < 3500 || left > 3601 {
		t.Fatalf("key expires in %.0f s (%v), want about an hour", left, err)
	}
	uqWant(t, uqEnqueue(t, c, &Job{Queue: q, Type: "SendEmail", Args: []byte(`[8]`), UniqueFor: time.Hour}), held.ID)
	uqExpire(t, held.ID)
	uqWant(t, uqEnqueue(t, c, &Job{Queue: q, Type: "SendEmail", Args: []byte(`[8]`), UniqueFor: time.Hour}), 0, held.ID)
	if n := countJobs(t, q); n != 2 {
		t.Errorf("%d jobs in the queue, want 2", n)
	}
}

func TestUniqueForAfterGoWorker(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	j := uqEnqueue(t, c, &Job{Queue: q, Type: "Ok", UniqueKey: q, UniqueFor: time.Minute})
	w := newTestWorker(c, q, WorkMap{"Ok": func(*Job) error { return nil }})
	if !w.WorkOne() || countJobs(t, q) != 0 {
		t.Fatal("the job was not worked")
	}
	uqWant(t, uqEnqueue(t, c, &Job{Queue: q, Type: "Ok", UniqueKey: q}), j.ID)
	uqExpire(t, j.ID)
	uqWant(t, uqEnqueue(t, c, &Job{Queue: q, Type: "Ok", UniqueKey: q}), 0, j.ID)
}

func TestUniqueGivenUpFreesKey(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	j := uqEnqueue(t, c, &Job{Queue: q, Type: "Hopeless", Unique: true})
	w := newTestWorker(c, q, WorkMap{"Hopeless": func(*Job) error { return GiveUp(errors.New("no")) }})
	w.WorkOne()
	if n := countJobs(t, DeadQueue(q)); n != 1 {
		t.Fatalf("%d jobs in the dead queue, want 1", n)
	}
	uqWant(t, uqEnqueue(t, c, &Job{Queue: q, Type: "Hopeless", Unique: true}), 0, j.ID)
}

func TestUniqueRolledBackEnqueueTakesNoKey(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	tx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Rollback
	j := &Job{Queue: q, Type: "T", UniqueKey: q}
	if err := c.EnqueueInTx(j, tx); err != nil {
		t.Fatal(err)
	}
	uqWant(t, j, 0)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	uqWant(t, uqEnqueue(t, c, &Job{Queue: q, Type: "T", UniqueKey: q}), 0, j.ID)
	if n := countJobs(t, q); n != 1 {
		t.Errorf("%d jobs, want 1", n)
	}
}

func TestUniqueDuplicateKeepsTxUsable(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	first := uqEnqueue(t, c, &Job{Queue: q, Type: "T", UniqueKey: q})
	tx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	dup := &Job{Queue: q, Type: "T", UniqueKey: q}
	if err := c.EnqueueInTx(dup, tx); err != nil {
		t.Fatal(err)
	}
	uqWant(t, dup, first.ID)
	// Two duplicates of each other in one transaction.
	a, b := &Job{Queue: q, Type: "T", UniqueKey: q + "_b"}, &Job{Queue: q, Type: "T", UniqueKey: q + "_b"}
	if err := c.EnqueueInTx(a, tx); err != nil {
		t.Fatal(err)
	}
	if err := c.EnqueueInTx(b, tx); err != nil {
		t.Fatal(err)
	}
	uqWant(t, b, a.ID)
	var one int
	if err := tx.QueryRow(`SELECT 1`).Scan(&one); err != nil {
		t.Fatalf("transaction unusable after a duplicate: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := countJobs(t, q); n != 2 {
		t.Errorf("%d jobs, want 2", n)
	}
}

// TestUniqueConcurrentTransactions: a second enqueue of a key taken by an
// open transaction waits for it, then is a duplicate if it committed, or
// inserts the job if it rolled back.
func TestUniqueConcurrentTransactions(t *testing.T) {
	t.Parallel()
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
			c, q := uqSetup(t)
			tx1, err := testDB.Begin()
			if err != nil {
				t.Fatal(err)
			}
			defer tx1.Rollback() //nolint:errcheck
			j1 := &Job{Queue: q, Type: "T", Unique: true}
			if err := c.EnqueueInTx(j1, tx1); err != nil {
				t.Fatal(err)
			}
			j2 := &Job{Queue: q, Type: "T", Unique: true}
			tx2, result := uqEnqueueBlocked(t, c, j2)
			if commit {
				err = tx1.Commit()
			} else {
				err = tx1.Rollback()
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := <-result; err != nil {
				t.Fatalf("second enqueue: %v", err)
			}
			if err := tx2.Commit(); err != nil {
				t.Fatal(err)
			}
			if commit {
				uqWant(t, j2, j1.ID)
			} else {
				uqWant(t, j2, 0, j1.ID)
			}
			if n := countJobs(t, q); n != 1 {
				t.Errorf("%d jobs, want exactly 1", n)
			}
		})
	}
}

// uqEnqueueBlocked starts EnqueueInTx of j in a new transaction and returns
// once the server shows it waiting for another transaction.
func uqEnqueueBlocked(t *testing.T, c *Client, j *Job) (*sql.Tx, <-chan error) {
	t.Helper()
	tx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	var pid int
	if err := tx.QueryRow(`SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() { result <- c.EnqueueInTx(j, tx) }()
	eventually(t, "the second enqueue to wait for the first transaction", func() bool {
		var blocked bool
		if err := testDB.QueryRow(`SELECT cardinality(pg_blocking_pids($1)) > 0`, pid).Scan(&blocked); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-result:
			t.Fatalf("the second enqueue did not wait for the first transaction (err %v, job %+v)", err, j)
		default:
		}
		return blocked
	})
	return tx, result
}

// TestUniqueManyConcurrentEnqueuers: sessions racing on the same keys, each
// enqueue in a transaction of its own, insert exactly one job per key.
func TestUniqueManyConcurrentEnqueuers(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	const sessions, keys = 8, 25
	var mu sync.Mutex
	inserted, duplicates := 0, 0
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				j := &Job{Queue: q, Type: "T", Args: []byte(fmt.Sprintf(`[%d]`, (k+s)%keys)), Unique: true}
				if err := uqEnqueueInOwnTx(c, j); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if j.Duplicate {
					duplicates++
				} else {
					inserted++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d sessions x %d keys: %d inserted, %d duplicates", sessions, keys, inserted, duplicates)
	if n := countJobs(t, q); inserted != keys || duplicates != sessions*keys-keys || n != keys {
		t.Fatalf("%d inserted, %d duplicates, %d rows; want %d, %d, %d",
			inserted, duplicates, n, keys, sessions*keys-keys, keys)
	}
}

// uqEnqueueInOwnTx enqueues j in a transaction of its own and commits.
func uqEnqueueInOwnTx(c *Client, j *Job) error {
	tx, err := testDB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	if err := c.EnqueueInTx(j, tx); err != nil {
		return err
	}
	return tx.Commit()
}

func TestUniqueInBatch(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	ctx := context.Background()
	jobs := []*Job{
		{Queue: q, Type: "T", UniqueKey: q},
		{Queue: q, Type: "Plain"},
		{Queue: q, Type: "T", UniqueKey: q},
	}
	if err := c.EnqueueBatch(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	uqWant(t, jobs[0], 0)
	uqWant(t, jobs[1], 0)
	uqWant(t, jobs[2], jobs[0].ID)
	if jobs[1].ID <= jobs[0].ID {
		t.Errorf("batch ids out of order: %d, %d", jobs[0].ID, jobs[1].ID)
	}

	// A batch in a transaction that rolls back takes no key.
	tx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Rollback
	rolled := []*Job{{Queue: q, Type: "T", UniqueKey: q + "_rb"}}
	if err := c.EnqueueBatchInTx(ctx, rolled, tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	uqWant(t, uqEnqueue(t, c, &Job{Queue: q, Type: "T", UniqueKey: q + "_rb"}), 0, rolled[0].ID)
	if n := countJobs(t, q); n != 3 {
		t.Errorf("%d jobs, want 3", n)
	}
}

func TestPruneUnique(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, q := uqSetup(t)
	prefix := "prune:" + q + ":"
	_, err := testDB.Exec(`INSERT INTO qg_unique (key, job_id, hold, expires_at)
SELECT $1 || n, -n, interval '1 minute', CASE WHEN n <= 5 THEN now() - interval '2 hours' ELSE now() + interval '1 hour' END
FROM generate_series(1, 7) AS n`, prefix)
	if err != nil {
		t.Fatal(err)
	}
	deleted, batches, err := pruneInBatches(ctx, testDB, pruneUnique, 2, time.Hour.Seconds())
	if err != nil {
		t.Fatal(err)
	}
	if deleted < 5 || batches != int(deleted)/2+1 {
		t.Errorf("deleted %d in %d batches of 2", deleted, batches)
	}
	var left int
	if err := testDB.QueryRow(`SELECT count(*) FROM qg_unique WHERE key LIKE $1 || '%'`, prefix).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 2 {
		t.Errorf("%d keys left, want the 2 unexpired", left)
	}
	if _, err := PruneUnique(ctx, testDB, -time.Hour, 0); err != nil {
		t.Fatal(err)
	}
}

// TestUniqueUnavailable: without Migrate's table or triggers, a unique
// enqueue fails with ErrUniqueUnavailable; Ruby's deletes keep working
// when qg_unique is dropped under its triggers.
func TestUniqueUnavailable(t *testing.T) {
	t.Parallel()
	db := scratchDB(t)
	ctx := context.Background()
	if _, err := db.Exec(Schema); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Enqueue(&Job{Type: "T", Unique: true}); !errors.Is(err, ErrUniqueUnavailable) {
		t.Fatalf("unique enqueue without qg_unique: %v", err)
	}
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue(&Job{Type: "T", Unique: true}); !errors.Is(err, ErrUniqueUnavailable) {
		t.Fatalf("unique enqueue before EnableUniqueJobs: %v", err)
	}
	if err := EnableUniqueJobs(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`ALTER TABLE que_jobs DISABLE TRIGGER qg_unique_buried`); err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue(&Job{Type: "T", Unique: true}); !errors.Is(err, ErrUniqueUnavailable) ||
		!strings.Contains(err.Error(), "triggers") {
		t.Fatalf("unique enqueue with a disabled trigger: %v", err)
	}
	if _, err := db.Exec(`ALTER TABLE que_jobs ENABLE TRIGGER qg_unique_buried`); err != nil {
		t.Fatal(err)
	}
	j := &Job{Type: "T", Unique: true}
	if err := c.Enqueue(j); err != nil || j.Duplicate {
		t.Fatalf("unique enqueue after Migrate: %v, duplicate %v", err, j.Duplicate)
	}
	if _, err := db.Exec(`DROP TABLE qg_unique`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM que_jobs WHERE job_id = $1`, j.ID); err != nil {
		t.Fatalf("delete with qg_unique dropped: %v", err)
	}
	if _, err := db.Exec(`TRUNCATE que_jobs`); err != nil {
		t.Fatalf("truncate with qg_unique dropped: %v", err)
	}
}
