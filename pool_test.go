package qg

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolFewerConnsThanWorkers runs 4 workers on a pool of 2
// connections: workers wait for a connection instead of deadlocking, and
// every job (and every job a job enqueues in its own transaction) is worked.
func TestPoolFewerConnsThanWorkers(t *testing.T) {
	_, q := setup(t)
	cleanQueues(t, q)
	db := openDB(t)
	db.SetMaxOpenConns(2)
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const parents = 12
	for i := range parents {
		enqueue(t, c, &Job{Queue: q, Type: "Parent", Args: []byte(fmt.Sprintf("[%d]", i))})
	}
	var worked, failedOnce atomic.Int32
	m := WorkMap{
		"Parent": func(j *Job) error {
			// A follow-up written in the job's own transaction, on its
			// pinned connection: no second connection is needed.
			if _, err := j.Tx().Exec(`INSERT INTO que_jobs (queue, job_class, args) VALUES ($1, 'Child', $2::text::json)`,
				q, string(j.Args)); err != nil {
				return err
			}
			worked.Add(1)
			return nil
		},
		"Child": func(j *Job) error {
			var n int
			if err := j.Tx().QueryRow(`SELECT count(*) FROM que_jobs WHERE job_id = $1`, j.ID).Scan(&n); err != nil {
				return err
			}
			worked.Add(1)
			return nil
		},
		"FailOnce": func(j *Job) error {
			if j.ErrorCount == 0 {
				failedOnce.Add(1)
				return errors.New("first try fails")
			}
			return nil
		},
	}
	enqueue(t, c, &Job{Queue: q, Type: "FailOnce"})
	p := NewWorkerPool(c, m, 4)
	p.Queue = q
	p.Interval = 10 * time.Millisecond
	p.Start()
	allDone := poll(60*time.Second, func() bool {
		var n int
		_ = testDB.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = $1 AND error_count = 0`, q).Scan(&n)
		return n == 0 && worked.Load() == 2*parents && failedOnce.Load() == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	shutdownErr := p.ShutdownContext(ctx)
	if !allDone {
		var stuck []string
		rows, err := testDB.Query(`SELECT state || ': ' || left(query, 60) FROM pg_stat_activity WHERE datname = current_database()`)
		if err == nil {
			for rows.Next() {
				var s string
				_ = rows.Scan(&s)
				stuck = append(stuck, s)
			}
			rows.Close()
		}
		t.Fatalf("deadlock? after 60s: %d jobs worked of %d, %d rows left, open conns %d (in use %d, waiting %d)\n%s",
			worked.Load(), 2*parents, countJobs(t, q), db.Stats().OpenConnections, db.Stats().InUse,
			db.Stats().WaitCount, strings.Join(stuck, "\n"))
	}
	if shutdownErr != nil {
		t.Fatalf("ShutdownContext: %v", shutdownErr)
	}
	// At most the failed-once job is left, waiting for its backoff.
	var left, errCount int
	if err := testDB.QueryRow(`SELECT count(*), coalesce(min(error_count), 1) FROM que_jobs WHERE queue = $1`, q).Scan(&left, &errCount); err != nil {
		t.Fatal(err)
	}
	if left > 1 || errCount < 1 {
		t.Fatalf("%d rows left (min error_count %d), want at most the one that failed once", left, errCount)
	}
	if s := db.Stats(); s.InUse != 0 {
		t.Fatalf("%d connections still in use after Shutdown", s.InUse)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "x"})
	worked := make(chan struct{})
	p := NewWorkerPool(c, WorkMap{"x": func(*Job) error { close(worked); return nil }}, 2)
	p.Queue = q
	p.Interval = time.Hour
	p.Listen = true
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error)
	go func() { ran <- p.Run(ctx) }()
	<-worked
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, before)
}
