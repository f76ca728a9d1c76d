package qg

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
)

// TestPoolOfNoWorkers checks that a pool of no Workers says so at Start
// and that Run returns ErrNoWorkers at once instead of blocking forever.
func TestPoolOfNoWorkers(t *testing.T) {
	c, queue := setup(t)
	logger, buf := testLogger(t)
	p := NewWorkerPool(c, WorkMap{}, 0)
	p.Queue, p.Logger = queue, logger
	if err := p.Run(context.Background()); !errors.Is(err, ErrNoWorkers) {
		t.Fatalf("Run of a pool of 0 workers = %v, want ErrNoWorkers", err)
	}
	p.Start()
	p.Shutdown()
	if !strings.Contains(buf.String(), "worker pool has no workers") {
		t.Errorf("Start logged %q, want a warning of no workers", buf.String())
	}
}

// TestPoolLargerThanMaxOpenConns checks the warning at Start of a pool that
// needs more connections at once (a Worker each, and the batch locker's)
// than its *sql.DB may open, and that a pool within the limit says nothing.
func TestPoolLargerThanMaxOpenConns(t *testing.T) {
	db := scratchDB(t)
	if err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		workers, batch int
		warned         bool
	}{{4, 0, false}, {5, 0, true}, {4, 16, true}, {3, 16, false}} {
		logger, buf := testLogger(t)
		p := NewWorkerPool(c, WorkMap{}, tc.workers)
		p.Queue, p.Logger, p.Batch = "pool_warn", logger, tc.batch
		p.Start()
		p.Shutdown()
		if got := strings.Contains(buf.String(), "MaxOpenConns"); got != tc.warned {
			t.Errorf("%d workers, batch %d, MaxOpenConns 4: warned %v, want %v (log %q)",
				tc.workers, tc.batch, got, tc.warned, buf.String())
		}
	}
}

// TestListenWithoutTrigger checks that a Listen pool on a Que 0.x table
// without the notify trigger warns that it only polls, and that one with
// the trigger, or on a Que 2.x table (whose own trigger notifies), warns of
// nothing.
func TestListenWithoutTrigger(t *testing.T) {
	for _, tc := range []struct {
		name    string
		migrate func(context.Context, *sql.DB) error
		warned  bool
	}{
		{"0.x without trigger", Migrate, true},
		{"0.x with trigger", func(ctx context.Context, db *sql.DB) error {
			if err := Migrate(ctx, db); err != nil {
				return err
			}
			return InstallNotifyTrigger(ctx, db)
		}, false},
		{"2.x", MigrateQue2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := scratchDB(t)
			if err := tc.migrate(context.Background(), db); err != nil {
				t.Fatal(err)
			}
			c, err := NewClient2(db)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			logger, buf := testLogger(t)
			p := NewWorkerPool(c, WorkMap{}, 1)
			p.Queue, p.Logger, p.Listen = "listen_warn", logger, true
			p.Start()
			defer p.Shutdown()
			eventually(t, "the listener to look for the trigger", p.listener.checked.Load)
			warned := strings.Contains(buf.String(), "no trigger on que_jobs sends notifications")
			if warned != tc.warned {
				t.Errorf("warned %v, want %v (log %q)", warned, tc.warned, buf.String())
			}
		})
	}
}
