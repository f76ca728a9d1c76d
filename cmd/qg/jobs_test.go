package main

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

// jobRow is a row of que_jobs, as the tests compare it.
type jobRow struct {
	Queue      string
	Priority   int16
	RunAt      time.Time
	JobClass   string
	Args       string
	ErrorCount int
	LastError  sql.NullString
}

// addJob inserts a job with SQL: in queue, of class, with errorCount
// failures and lastError, due in runIn.
func addJob(t *testing.T, queue, class string, errorCount int, lastError string, runIn time.Duration) int64 {
	t.Helper()
	var id int64
	err := testDB.QueryRow(`INSERT INTO que_jobs (queue, job_class, error_count, last_error, run_at)
VALUES ($1, $2, $3, nullif($4, ''), now() + make_interval(secs => $5))
RETURNING job_id`, queue, class, errorCount, lastError, runIn.Seconds()).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// getJob reads job id; it fails the test when the job is gone.
func getJob(t *testing.T, id int64) jobRow {
	t.Helper()
	var j jobRow
	err := testDB.QueryRow(`SELECT queue, priority, run_at, job_class, args::text, error_count, last_error
FROM que_jobs WHERE job_id = $1`, id).Scan(&j.Queue, &j.Priority, &j.RunAt, &j.JobClass,
		&j.Args, &j.ErrorCount, &j.LastError)
	if err != nil {
		t.Fatalf("job %d: %v", id, err)
	}
	return j
}

// serverNow is the server's clock.
func serverNow(t *testing.T) time.Time {
	t.Helper()
	var now time.Time
	if err := testDB.QueryRow(`SELECT now()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	return now
}

// holderApp is the application_name of the sessions that hold job locks in
// the tests.
const holderApp = "qg-test-holder"

// holdLock takes job id's lock, as a worker does, on a session of its own
// until the end of the test, and returns that session's pid.
func holdLock(t *testing.T, id int64) int {
	t.Helper()
	db, err := sql.Open("pgx", withParam(t, testURL, "application_name", holderApp))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock($1)) AS locked`, id).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var ok bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, id).Scan(&ok); err != nil || !ok {
			t.Errorf("unlock job %d: %v, %v", id, ok, err)
		}
		conn.Close()
		db.Close()
	})
	return pid
}

// assertUnlocked fails the test when a session holds the lock of a job ids.
func assertUnlocked(t *testing.T, ids ...int64) {
	t.Helper()
	var n int
	err := testDB.QueryRow(`SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND (classid::bigint << 32) + objid::bigint = ANY ($1::bigint[])`, ids).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d of the jobs %v are still locked", n, ids)
	}
}
