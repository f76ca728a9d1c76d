package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qg-go/qg"
)

// The helpers of the regression tests that run the library against a
// scratch database of their own (batch*_test.go, rolledback_test.go).

// lockWithin polls LockJob for up to d and returns the job it got, or nil.
func lockWithin(t *testing.T, c *qg.Client, queue string, d time.Duration) *qg.Job {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		j, err := c.LockJob(queue)
		if err != nil {
			t.Fatal(err)
		}
		if j != nil {
			return j
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// scratchDatabase creates a scratch database for the test, migrated, with a
// qg Client on it; all go away after the test. It returns the database's
// URL too.
func scratchDatabase(t *testing.T) (*sql.DB, *qg.Client, string) {
	t.Helper()
	adminURL := testServer(t)
	admin, err := openDB(adminURL, "qg-chaos-test", 1)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("qg_chaos_test_%d", os.Getpid())
	mustExec(t, admin, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		mustExec(t, admin, "DROP DATABASE "+name+" WITH (FORCE)")
		admin.Close()
	})
	url, err := withDatabase(adminURL, name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(url, "qg-chaos-test", 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := qg.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db, scratchClient(t, url, 8), url
}

// scratchClient returns a qg Client on a pool of its own, of conns connections.
func scratchClient(t *testing.T, url string, conns int) *qg.Client {
	t.Helper()
	db, err := openDB(url, "qg-chaos-test", conns)
	if err != nil {
		t.Fatal(err)
	}
	client, err := qg.NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); db.Close() })
	return client
}

// mustExec runs a statement and fails the test on error.
func mustExec(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	if _, err := db.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// batchPool returns a batch pool of one worker on a client of its own,
// and the count of its locker's "lost its session" warnings. The pool keeps
// no idle connection, so the locker's next connection after losing its
// session is a new one, refused while the database refuses connections.
func batchPool(t *testing.T, url string, wf qg.WorkFunc) (*qg.WorkerPool, *warningCount) {
	t.Helper()
	qdb, err := openDB(url, "qg-chaos-test-batch", 4)
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
	pool := qg.NewWorkerPool(c, qg.WorkMap{"Test": wf}, 1)
	pool.Queue, pool.Batch, pool.Interval = "batchtest", 4, 20*time.Millisecond
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
