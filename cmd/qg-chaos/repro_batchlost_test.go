//go:build repro

package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qg-go/qg"
)

// TestReproBatchLockerDeletesUnfinishedJobs reproduces a library bug; run
// it with: go test -tags repro -run Repro ./cmd/qg-chaos/
//
// In batch mode (WorkerPool.Batch > 0) the locker keeps, in l.lost, the
// finished jobs of a lost session that it still owes a delete, and deletes
// them once it has a session again. But when taking a new connection fails
// (locker.cycle, locker.go: `l.lost = append(l.lost, done...)`), every job
// finished meanwhile goes to l.lost, not only the ones worked without Tx
// (pendingDelete), and split deletes every job of l.lost. So the jobs whose
// run failed, and those handed back untouched because the session was lost
// (locker.fail drains them from the workers' channel), are deleted from
// que_jobs without ever being worked: lost. The chaos run meets it on every
// PostgreSQL restart in batch mode (the server refuses connections for a
// moment).
//
// Here: a batch pool of one worker locks four jobs; the worker's first job
// blocks while the test refuses new connections to the database
// (ALLOW_CONNECTIONS false) and ends the pool's sessions. The first job then
// fails, so the locker finds its session gone: it cancels the jobs it held
// and hands back those not started, and cannot connect again; the cancelled
// runs fail. Connections are allowed again: the three other jobs vanish
// from que_jobs without a run that succeeded.
func TestReproBatchLockerDeletesUnfinishedJobs(t *testing.T) {
	db, client, url := reproDatabase(t)
	ctx := context.Background()
	admin, err := openDB(testServer(t), "qg-chaos-repro-admin", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	var name string
	if err := db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mustExec(t, admin, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true") })
	var ids []int64
	for i := range 4 {
		j := &qg.Job{Type: "Repro", Queue: "batchrepro", Priority: int16(i + 1)}
		if err := client.EnqueueContext(ctx, j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}

	w := newBatchReproWork(ids[0])
	pool, warnings := reproBatchPool(t, url, w.work)
	pool.Start()
	defer pool.Shutdown()
	select {
	case <-w.blocking:
	case <-time.After(5 * time.Second):
		t.Fatal("the first job did not start")
	}
	mustExec(t, admin, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false")
	mustExec(t, admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '`+name+`'`)
	close(w.release) // the first job fails: the locker finds its session gone
	// The first warning is the lost session, the next ones the failed
	// reconnections: by the third every job the locker held is finished.
	waitFor(t, "the locker to fail to reconnect", func() bool { return warnings.count() >= 3 && w.idle() })
	w.heal()
	mustExec(t, admin, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true")
	waitFor(t, "the queue to empty", func() bool {
		var n int
		return db.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = 'batchrepro'`).Scan(&n) == nil && n == 0
	})
	for _, id := range ids {
		if !w.succeeded(id) {
			t.Errorf("job %d is gone from que_jobs, yet no run of it succeeded: lost", id)
		}
	}
}

// batchReproWork is the WorkFunc of the repro. Until healed, the first
// job's run blocks until released, then fails, and every other run fails
// once qg cancels it (when the locker finds its session gone); once healed,
// every run succeeds.
type batchReproWork struct {
	first             int64
	blocking, release chan struct{}
	mu                sync.Mutex
	healed            bool
	calls, ended      int
	ok                map[int64]bool
}

func newBatchReproWork(first int64) *batchReproWork {
	return &batchReproWork{first: first, blocking: make(chan struct{}), release: make(chan struct{}), ok: map[int64]bool{}}
}

func (w *batchReproWork) work(j *qg.Job) error {
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

func (w *batchReproWork) run(j *qg.Job, healed bool) error {
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
func (w *batchReproWork) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls == w.ended
}

func (w *batchReproWork) heal() {
	w.mu.Lock()
	w.healed = true
	w.mu.Unlock()
}

func (w *batchReproWork) succeeded(id int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok[id]
}

// reproBatchPool returns a batch pool of one worker on a client of its own,
// and the count of its locker's "lost its session" warnings. The pool keeps
// no idle connection, so the locker's next connection after losing its
// session is a new one, refused while the database refuses connections.
func reproBatchPool(t *testing.T, url string, wf qg.WorkFunc) (*qg.WorkerPool, *warningCount) {
	t.Helper()
	qdb, err := openDB(url, "qg-chaos-repro-batch", 4)
	if err != nil {
		t.Fatal(err)
	}
	qdb.SetMaxIdleConns(0) // every new connection is dialled: none idle and dead
	c, err := qg.NewClient2(qdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); qdb.Close() })
	warnings := &warningCount{}
	pool := qg.NewWorkerPool(c, qg.WorkMap{"Repro": wf}, 1)
	pool.Queue, pool.Batch, pool.Interval = "batchrepro", 4, 20*time.Millisecond
	pool.Backoff = func(int) time.Duration { return 0 }
	pool.Logger = slog.New(warnings)
	return pool, warnings
}

// warningCount is a slog.Handler counting the batch locker's warnings that
// it lost its session.
type warningCount struct {
	mu sync.Mutex
	n  int
}

func (h *warningCount) Enabled(context.Context, slog.Level) bool { return true }
func (h *warningCount) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *warningCount) WithGroup(string) slog.Handler            { return h }
func (h *warningCount) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "lost its session") {
		h.mu.Lock()
		h.n++
		h.mu.Unlock()
	}
	return nil
}

func (h *warningCount) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
