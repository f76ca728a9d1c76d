package qg

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestEnqueueInTxBadText enqueues, inside the caller's transaction, jobs
// whose type or queue a text column cannot hold: each is refused with
// ErrInvalidText before any statement runs, so the caller's transaction is
// not aborted and commits its own row.
func TestEnqueueInTxBadText(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	tx, err := testDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	for _, j := range []*Job{
		{Type: "A\x00B", Queue: q},
		{Type: "A\xffB", Queue: q},
		{Type: "A", Queue: q + "\x00"},
		{Type: "A", Queue: q + "\xc3"},
	} {
		err := c.EnqueueInTx(j, tx)
		if !errors.Is(err, ErrInvalidText) {
			t.Errorf("EnqueueInTx(%q in %q) = %v, want ErrInvalidText", j.Type, j.Queue, err)
		}
		if err := c.EnqueueBatchInTx(ctx, []*Job{{Type: "ok", Queue: q}, j}, tx); !errors.Is(err, ErrInvalidText) {
			t.Errorf("EnqueueBatchInTx with %q in %q = %v, want ErrInvalidText", j.Type, j.Queue, err)
		}
	}
	if err := c.EnqueueInTx(&Job{Type: "Good", Queue: q}, tx); err != nil {
		t.Fatalf("the caller's transaction is broken: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := countJobs(t, q); n != 1 {
		t.Errorf("%d jobs in the queue, want the good one", n)
	}
}

// TestHugeNameBoundedError gives a queue name of 10 MB, which the table's
// index refuses: the error says so in a bounded message, for an enqueue and
// for a lock.
func TestHugeNameBoundedError(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	huge := strings.Repeat("q\x1b", 5<<20)
	err := c.Enqueue(&Job{Type: "Huge", Queue: huge})
	if err == nil {
		t.Fatal("a 10 MB queue name was enqueued")
	}
	if len(err.Error()) > 4096 || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("enqueue error of %d bytes (raw escapes: %v)", len(err.Error()), strings.Contains(err.Error(), "\x1b"))
	}
	err = c.Enqueue(&Job{Type: huge, Queue: "q", Args: []byte("[")})
	if err == nil {
		t.Fatal("invalid args were enqueued")
	}
	if len(err.Error()) > 4096 {
		t.Errorf("enqueue error of %d bytes", len(err.Error()))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.LockJobContext(ctx, huge); err == nil || len(err.Error()) > 4096 {
		t.Errorf("lock error of %d bytes: %.200v", len(err.Error()), err)
	}
}
