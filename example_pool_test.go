package qg_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/qg-go/qg"
)

// Run a WorkerPool until its context ends, as a main function does with
// signal.NotifyContext: Run starts the pool, and on cancel waits for the
// running jobs before it returns.
func ExampleWorkerPool_Run() {
	_, c, closeAll := exampleClient() // sql.Open("pgx", DATABASE_URL), qg.NewClient2
	defer closeAll()
	for range 3 {
		if err := c.Enqueue(&qg.Job{Queue: "example_run", Type: "Resize"}); err != nil {
			panic(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var resized atomic.Int32
	p := qg.NewWorkerPool(c, qg.WorkMap{"Resize": func(*qg.Job) error {
		if resized.Add(1) == 3 {
			cancel() // in a program: a signal
		}
		return nil
	}}, 2)
	p.Queue, p.Interval = "example_run", 100*time.Millisecond
	p.ShutdownTimeout = 10 * time.Second
	if err := p.Run(ctx); err != nil {
		panic(err)
	}
	fmt.Println("resized", resized.Load())
	// Output: resized 3
}

// Batch locking: one connection locks up to Batch jobs at once and the
// workers run them, for a queue of many short jobs.
func ExampleWorkerPool_batch() {
	db, c, closeAll := exampleClient() // sql.Open("pgx", DATABASE_URL), qg.NewClient2
	defer closeAll()
	jobs := make([]*qg.Job, 50)
	for i := range jobs {
		jobs[i] = &qg.Job{Queue: "example_batch_lock", Type: "Count"}
	}
	if err := c.EnqueueBatch(context.Background(), jobs); err != nil {
		panic(err)
	}

	var counted atomic.Int32
	done := make(chan struct{})
	p := qg.NewWorkerPool(c, qg.WorkMap{"Count": func(*qg.Job) error {
		if counted.Add(1) == 50 {
			close(done)
		}
		return nil
	}}, 4)
	p.Queue, p.Interval, p.Batch = "example_batch_lock", 100*time.Millisecond, 16
	p.Start()
	<-done
	p.Shutdown() // the last finished jobs are deleted before it returns
	var left int
	if err := db.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = 'example_batch_lock'`).Scan(&left); err != nil {
		panic(err)
	}
	fmt.Println("counted", counted.Load(), "left", left)
	// Output: counted 50 left 0
}
