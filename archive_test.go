package qg

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The archive trigger is one for the whole database, so these tests do not
// run in parallel: each enables it and disables it when done.

// arEnable enables the archive for the test.
func arEnable(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := EnableArchive(ctx, testDB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DisableArchive(ctx, testDB); err != nil {
			t.Error(err)
		}
	})
}

// arRow is one row of qg_jobs_archive.
type arRow struct {
	queue, class, args, outcome string
	priority                    int16
	errorCount                  int
	lastError                   *string
	runAt, finishedAt           time.Time
}

// arRows reads the archived rows of job id.
func arRows(t *testing.T, id int64) []arRow {
	t.Helper()
	rows, err := testDB.Query(`SELECT queue, job_class, args::text, outcome, priority, error_count,
  last_error, run_at, finished_at FROM qg_jobs_archive WHERE job_id = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []arRow
	for rows.Next() {
		var r arRow
		if err := rows.Scan(&r.queue, &r.class, &r.args, &r.outcome, &r.priority, &r.errorCount,
			&r.lastError, &r.runAt, &r.finishedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// arOne reads the one archived row of job id.
func arOne(t *testing.T, id int64) arRow {
	t.Helper()
	rows := arRows(t, id)
	if len(rows) != 1 {
		t.Fatalf("job %d has %d archived rows, want 1", id, len(rows))
	}
	return rows[0]
}

func TestArchiveWorkedJob(t *testing.T) {
	c, q := uqSetup(t)
	arEnable(t)
	j := uqEnqueue(t, c, &Job{Queue: q, Type: "Ok", Priority: 7, Args: []byte(`[1,"two",{"k":3}]`)})
	before := time.Now()
	w := newTestWorker(c, q, WorkMap{"Ok": func(*Job) error { return nil }})
	if !w.WorkOne() {
		t.Fatal("no job worked")
	}
	r := arOne(t, j.ID)
	if r.queue != q || r.class != "Ok" || r.args != `[1,"two",{"k":3}]` || r.priority != 7 ||
		r.errorCount != 0 || r.lastError != nil || !r.runAt.Equal(j.RunAt) || r.outcome != OutcomeWorked {
		t.Errorf("archived %+v", r)
	}
	if r.finishedAt.Before(before.Add(-time.Second)) || r.finishedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("finished_at %v, want about now", r.finishedAt)
	}
}

func TestArchiveRolledBackWorkArchivesNothing(t *testing.T) {
	c, q := uqSetup(t)
	arEnable(t)
	j := uqEnqueue(t, c, &Job{Queue: q, Type: "DeletesThenFails"})
	w := newTestWorker(c, q, WorkMap{"DeletesThenFails": func(j *Job) error {
		if err := j.Delete(); err != nil {
			return err
		}
		return errors.New("failed after Delete")
	}})
	w.WorkOne()
	if rows := arRows(t, j.ID); len(rows) != 0 {
		t.Fatalf("a rolled-back run archived %+v", rows)
	}
	if count, msg, _, found := jobRow(t, j.ID); !found || count != 1 || msg != "failed after Delete" {
		t.Fatalf("job after failure: found %v count %d msg %q", found, count, msg)
	}
}

func TestArchiveGivenUpJobStaysInDeadQueue(t *testing.T) {
	c, q := uqSetup(t)
	arEnable(t)
	j := uqEnqueue(t, c, &Job{Queue: q, Type: "Hopeless"})
	w := newTestWorker(c, q, WorkMap{"Hopeless": func(*Job) error { return GiveUp(errors.New("no hope")) }})
	w.WorkOne()
	if rows := arRows(t, j.ID); len(rows) != 0 {
		t.Fatalf("a given-up job was archived: %+v", rows)
	}
	if count, msg, _, found := jobRow(t, j.ID); !found || count != 1 || msg != "no hope" {
		t.Fatalf("given-up job: found %v count %d msg %q", found, count, msg)
	}
	// Deleted from its dead-letter queue by hand, it is archived as such.
	if _, err := testDB.Exec(`DELETE FROM que_jobs WHERE job_id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	if r := arOne(t, j.ID); r.outcome != OutcomeDeleted || r.queue != DeadQueue(q) || r.lastError == nil ||
		*r.lastError != "no hope" {
		t.Errorf("archived %+v", r)
	}
}

func TestArchiveRubyWorkerAndManualDelete(t *testing.T) {
	c, q := uqSetup(t)
	arEnable(t)
	ruby := uqEnqueue(t, c, &Job{Queue: q, Type: "SendEmail", Args: []byte(`[1]`)})
	byHand := uqEnqueue(t, c, &Job{Queue: q, Type: "SendEmail", Args: []byte(`[2]`)})
	uqRubyWork(t, ruby.ID)
	if _, err := testDB.Exec(`DELETE FROM que_jobs WHERE job_id = $1`, byHand.ID); err != nil {
		t.Fatal(err)
	}
	if r := arOne(t, ruby.ID); r.outcome != OutcomeWorked || r.args != `[1]` {
		t.Errorf("Ruby-worked job archived as %+v", r)
	}
	if r := arOne(t, byHand.ID); r.outcome != OutcomeDeleted || r.args != `[2]` {
		t.Errorf("job deleted by hand archived as %+v", r)
	}
}

func TestArchiveBatchPool(t *testing.T) {
	c, q := uqSetup(t)
	arEnable(t)
	var ids []int64
	for range 5 {
		ids = append(ids, uqEnqueue(t, c, &Job{Queue: q, Type: "Ok"}).ID)
	}
	p := NewWorkerPool(c, WorkMap{"Ok": func(*Job) error { return nil }}, 2)
	p.Queue, p.Interval, p.Batch = q, 10*time.Millisecond, 4
	p.Start()
	defer p.Shutdown()
	eventually(t, "the pool to work the jobs", func() bool { return countJobs(t, q) == 0 })
	p.Shutdown()
	for _, id := range ids {
		if r := arOne(t, id); r.outcome != OutcomeWorked {
			t.Errorf("job %d archived as %+v", id, r)
		}
	}
}

func TestDisableArchive(t *testing.T) {
	c, q := uqSetup(t)
	ctx := context.Background()
	arEnable(t)
	if err := EnableArchive(ctx, testDB); err != nil {
		t.Fatalf("second EnableArchive: %v", err)
	}
	if n := arTriggers(t); n != 1 {
		t.Fatalf("%d archive triggers after enabling twice", n)
	}
	for range 2 {
		if err := DisableArchive(ctx, testDB); err != nil {
			t.Fatal(err)
		}
	}
	if n := arTriggers(t); n != 0 {
		t.Fatalf("%d archive triggers after DisableArchive", n)
	}
	j := uqEnqueue(t, c, &Job{Queue: q, Type: "Ok"})
	w := newTestWorker(c, q, WorkMap{"Ok": func(*Job) error { return nil }})
	if !w.WorkOne() {
		t.Fatal("no job worked")
	}
	if rows := arRows(t, j.ID); len(rows) != 0 {
		t.Fatalf("archived while disabled: %+v", rows)
	}
}

// arTriggers counts the archive triggers on que_jobs.
func arTriggers(t *testing.T) int {
	t.Helper()
	var n int
	err := testDB.QueryRow(`SELECT count(*) FROM pg_trigger
WHERE tgrelid = 'que_jobs'::regclass AND tgname = 'qg_archive_jobs'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPruneArchive(t *testing.T) {
	_, q := uqSetup(t)
	ctx := context.Background()
	_, err := testDB.Exec(`INSERT INTO qg_jobs_archive (priority, run_at, job_id, job_class, args,
  error_count, queue, finished_at, outcome)
SELECT 100, now(), -n, 'Old', '[]', 0, $1,
  CASE WHEN n <= 5 THEN now() - interval '2 hours' ELSE now() - interval '10 minutes' END, 'worked'
FROM generate_series(1, 7) AS n`, q)
	if err != nil {
		t.Fatal(err)
	}
	deleted, batches, err := pruneInBatches(ctx, testDB, pruneArchive, 2, time.Hour.Seconds())
	if err != nil {
		t.Fatal(err)
	}
	if deleted < 5 || batches != int(deleted)/2+1 {
		t.Errorf("deleted %d in %d batches of 2", deleted, batches)
	}
	var left int
	if err := testDB.QueryRow(`SELECT count(*) FROM qg_jobs_archive WHERE queue = $1`, q).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 2 {
		t.Fatalf("%d rows left, want the 2 younger than an hour", left)
	}
	if n, err := PruneArchive(ctx, testDB, time.Hour, 0); err != nil || n != 0 {
		t.Fatalf("second prune: %d, %v", n, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := PruneArchive(cancelled, testDB, time.Hour, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("prune with a cancelled context: %v", err)
	}
}

// TestArchiveDroppedTableNeverFailsDeletes: with the archive table gone
// under its trigger, deletes (Ruby's too) still succeed.
func TestArchiveDroppedTableNeverFailsDeletes(t *testing.T) {
	t.Parallel()
	db := scratchDB(t)
	ctx := context.Background()
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := EnableArchive(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE qg_jobs_archive`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO que_jobs (job_class) VALUES ('X'); DELETE FROM que_jobs`); err != nil {
		t.Fatalf("delete with the archive dropped: %v", err)
	}
	// EnableArchive alone (no Migrate) brings the table back.
	if err := EnableArchive(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO que_jobs (job_class) VALUES ('X'); DELETE FROM que_jobs`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM qg_jobs_archive WHERE outcome = 'deleted'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d archived rows, %v; want 1", n, err)
	}
}
