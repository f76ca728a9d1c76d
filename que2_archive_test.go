package qg

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"
)

// TestQue2ArchiveKeepsFinishedRows: with the archive on, a Ruby Que 2.x
// table keeps finished jobs as rows with finished_at set, whoever finishes
// them: a qg Worker in either locking mode (in batch mode, the locker's
// finishing of jobs that used no Tx), a bare LockJob's Delete, or Ruby's
// destroy (a DELETE while its locker holds the job's lock). No worker takes
// a kept row again; DeleteJob, and a DELETE of a job no one holds, still
// remove it; PruneArchive deletes kept rows older than its retention (and
// leaves expired ones); after DisableArchive finishing deletes again.
func TestQue2ArchiveKeepsFinishedRows(t *testing.T) {
	t.Parallel()
	db, _ := newQue2Database(t)
	ctx := context.Background()
	if err := EnableArchive(ctx, db); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	finished := func(id int64) (kept, done bool) {
		t.Helper()
		var at sql.NullTime
		err := db.QueryRow(`SELECT finished_at FROM public.que_jobs WHERE id = $1`, id).Scan(&at)
		if err == sql.ErrNoRows {
			return false, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return true, at.Valid
	}
	var ids []int64
	for _, batch := range []int{0, 4} {
		j := &Job{Queue: "archive", Type: "Kept", Args: MustArgs(batch)}
		if err := c.Enqueue(j); err != nil {
			t.Fatal(err)
		}
		ran := make(chan struct{}, 4)
		p := NewWorkerPool(c, WorkMap{"Kept": func(j *Job) error {
			ran <- struct{}{}
			if batch > 0 {
				return nil // the locker finishes it with others
			}
			_, err := j.Tx().Exec(`SELECT 1`)
			return err
		}}, 2)
		p.Queue, p.Interval, p.Batch = "archive", 20*time.Millisecond, batch
		p.Logger, _ = testLogger(t)
		p.Start()
		stop := sync.OnceFunc(p.Shutdown)
		defer stop()
		eventually(t, "the job to be kept as finished", func() bool {
			kept, done := finished(j.ID)
			return kept && done
		})
		time.Sleep(100 * time.Millisecond) // a few more polls: none may take it again
		stop()
		if len(ran) != 1 {
			t.Errorf("batch %d: the job ran %d times, want once", batch, len(ran))
		}
		ids = append(ids, j.ID)
	}
	// A bare LockJob's Delete, and a raw DELETE (Ruby's destroy).
	bare := &Job{Queue: "archive_bare", Type: "Kept"}
	raw := &Job{Queue: "archive_raw", Type: "Kept"}
	for _, j := range []*Job{bare, raw} {
		if err := c.Enqueue(j); err != nil {
			t.Fatal(err)
		}
	}
	locked, err := c.LockJob("archive_bare")
	if err != nil || locked == nil {
		t.Fatalf("LockJob: %v, %v", locked, err)
	}
	if err := locked.Delete(); err != nil {
		t.Fatalf("Delete with the archive on: %v", err)
	}
	locked.Done()
	rubyDestroy(t, db, raw.ID)
	for _, id := range append(ids, bare.ID, raw.ID) {
		if kept, done := finished(id); !kept || !done {
			t.Errorf("job %d: kept %v, finished %v; want kept as finished", id, kept, done)
		}
	}
	// DeleteJob, and a DELETE of a job no worker holds (by hand,
	// Que.clear!), remove it for real.
	gone := &Job{Queue: "archive_gone", Type: "Kept"}
	cleared := &Job{Queue: "archive_gone", Type: "Kept"}
	for _, j := range []*Job{gone, cleared} {
		if err := c.Enqueue(j); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteJob(ctx, gone.ID); err != nil {
		t.Fatalf("DeleteJob with the archive on: %v", err)
	}
	if _, err := db.Exec(`DELETE FROM public.que_jobs WHERE id = $1`, cleared.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{gone.ID, cleared.ID} {
		if kept, _ := finished(id); kept {
			t.Errorf("job %d kept, deleted while no worker held it", id)
		}
	}
	// Prune: the old kept rows go, a recent one and an expired one stay.
	if _, err := db.Exec(`UPDATE public.que_jobs SET finished_at = now() - interval '2 days' WHERE id = ANY ($1)`, ids); err != nil {
		t.Fatal(err)
	}
	expired := &Job{Queue: "archive_expired", Type: "Kept"}
	if err := c.Enqueue(expired); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE public.que_jobs SET expired_at = now() - interval '2 days' WHERE id = $1`, expired.ID); err != nil {
		t.Fatal(err)
	}
	n, err := PruneArchive(ctx, db, 24*time.Hour, 1)
	if err != nil || n != int64(len(ids)) {
		t.Fatalf("PruneArchive = %d, %v; want %d", n, err, len(ids))
	}
	for _, id := range ids {
		if kept, _ := finished(id); kept {
			t.Errorf("PruneArchive left job %d, finished two days ago", id)
		}
	}
	for _, id := range []int64{bare.ID, raw.ID, expired.ID} {
		if kept, _ := finished(id); !kept {
			t.Errorf("PruneArchive deleted job %d", id)
		}
	}
	// Off again: finishing deletes.
	if err := DisableArchive(ctx, db); err != nil {
		t.Fatal(err)
	}
	after := &Job{Queue: "archive_off", Type: "Kept"}
	if err := c.Enqueue(after); err != nil {
		t.Fatal(err)
	}
	if locked, err = c.LockJob("archive_off"); err != nil || locked == nil {
		t.Fatalf("LockJob: %v, %v", locked, err)
	}
	if err := locked.Delete(); err != nil {
		t.Fatal(err)
	}
	locked.Done()
	if kept, _ := finished(after.ID); kept {
		t.Errorf("job %d kept after DisableArchive", after.ID)
	}
}

// rubyDestroy deletes job id as a Ruby Que 2 worker does after its run:
// while a session of its locker holds the job's advisory lock.
func rubyDestroy(t *testing.T, db *sql.DB, id int64) {
	t.Helper()
	ctx := context.Background()
	locker, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	var locked bool
	if err := locker.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, id).Scan(&locked); err != nil || !locked {
		t.Fatalf("lock job %d as Ruby's locker: %v, %v", id, locked, err)
	}
	defer locker.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, id) //nolint:errcheck // the test's own
	if _, err := db.ExecContext(ctx, `DELETE FROM public.que_jobs WHERE id = $1`, id); err != nil {
		t.Fatalf("Ruby's destroy with the archive on: %v", err)
	}
}
