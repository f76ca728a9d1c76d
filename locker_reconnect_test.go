package qg

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/qg-go/qg/internal/pgtest"
)

// TestBatchLockerKeepsUnfinishedJobsOnFailedReconnect guards the fix of
// 4b62bdc. In batch mode (WorkerPool.Batch > 0) the locker keeps, in
// l.lost, the finished jobs of a lost session that it still owes a delete,
// and deletes them once it has a session again. When taking a new
// connection failed (locker.cycle), every job finished meanwhile went to
// l.lost, not only those worked to success without Tx (pendingDelete): the
// jobs whose run failed, and those handed back untouched because the
// session was lost, were deleted from que_jobs without ever being worked.
// The chaos run met it on every PostgreSQL restart in batch mode (the
// server refuses connections for a moment).
//
// Here: a batch pool of one worker locks four jobs; the worker's first job
// blocks while the test refuses new connections to the database
// (ALLOW_CONNECTIONS false) and ends the pool's sessions. The first job then
// fails, so the locker finds its session gone: it cancels the jobs it held
// and hands back those not started, and cannot connect again; the cancelled
// runs fail. Connections are allowed again: every job must stay in que_jobs
// until a run of it succeeds.
func TestBatchLockerKeepsUnfinishedJobsOnFailedReconnect(t *testing.T) {
	db, client, url := migratedScratch(t)
	ctx := context.Background()
	admin, err := openURL(pgtest.AdminURL(), "qg-chaos-test-admin", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	var name string
	if err := db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dbExec(t, admin, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true") })
	var ids []int64
	for i := range 4 {
		j := &Job{Type: "Test", Queue: "batchtest", Priority: int16(i + 1)}
		if err := client.EnqueueContext(ctx, j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}

	w := newLostSessionWork(ids[0])
	pool, warnings := batchPool(t, url, w.work)
	pool.Start()
	defer pool.Shutdown()
	select {
	case <-w.blocking:
	case <-time.After(5 * time.Second):
		t.Fatal("the first job did not start")
	}
	dbExec(t, admin, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false")
	dbExec(t, admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '`+name+`'`)
	close(w.release) // the first job fails: the locker finds its session gone
	// The first warning is the lost session, the next ones the failed
	// reconnections: by the third every job the locker held is finished.
	eventually(t, "the locker to fail to reconnect", func() bool { return warnings.count() >= 3 && w.idle() })
	w.heal()
	dbExec(t, admin, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true")
	eventually(t, "the queue to empty", func() bool {
		var n int
		return db.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = 'batchtest'`).Scan(&n) == nil && n == 0
	})
	for _, id := range ids {
		if !w.succeeded(id) {
			t.Errorf("job %d is gone from que_jobs, yet no run of it succeeded: lost", id)
		}
	}
}

// lostSessionWork is the WorkFunc of the test. Until healed, the first
// job's run blocks until released, then fails, and every other run fails
// once qg cancels it (when the locker finds its session gone); once healed,
// every run succeeds.
type lostSessionWork struct {
	first             int64
	blocking, release chan struct{}
	mu                sync.Mutex
	healed            bool
	calls, ended      int
	ok                map[int64]bool
}

func newLostSessionWork(first int64) *lostSessionWork {
	return &lostSessionWork{first: first, blocking: make(chan struct{}), release: make(chan struct{}), ok: map[int64]bool{}}
}

func (w *lostSessionWork) work(j *Job) error {
	w.mu.Lock()
	healed := w.healed
	w.calls++
	w.mu.Unlock()
	err := w.run(j, healed)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.ok[j.ID] = true
	}
	w.ended++
	return err
}

func (w *lostSessionWork) run(j *Job, healed bool) error {
	switch {
	case healed:
		return nil
	case j.ID == w.first:
		close(w.blocking)
		<-w.release
		return errors.New("the first run fails")
	}
	<-j.Context().Done()
	return j.Context().Err()
}

// idle reports whether no run is in progress.
func (w *lostSessionWork) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls == w.ended
}

func (w *lostSessionWork) heal() {
	w.mu.Lock()
	w.healed = true
	w.mu.Unlock()
}

func (w *lostSessionWork) succeeded(id int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok[id]
}
