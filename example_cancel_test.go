package qg_test

import (
	"context"
	"fmt"
	"time"

	"github.com/qg-go/qg"
)

// CancelJob stops a running job: its context is cancelled in whichever
// process works it, its work rolls back, and it is removed, not retried.
func ExampleClient_CancelJob() {
	db, c := openExample()
	defer db.Close()
	defer c.Close()
	job := &qg.Job{Queue: "example_cancel", Type: "Export"}
	if err := c.Enqueue(job); err != nil {
		panic(err)
	}
	started := make(chan struct{})
	p := qg.NewWorkerPool(c, qg.WorkMap{"Export": func(j *qg.Job) error {
		close(started)
		<-j.Context().Done() // a long export watching its context
		return j.Context().Err()
	}}, 1)
	p.Queue = "example_cancel"
	p.Start()
	defer p.Shutdown()
	<-started
	running, err := c.CancelJob(context.Background(), job.ID)
	if err != nil {
		panic(err)
	}
	for { // wait for the worker to remove it
		if _, err := c.FindJob(context.Background(), job.ID); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("was running:", running)
	// Output: was running: true
}
