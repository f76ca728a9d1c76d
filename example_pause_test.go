package qg_test

import (
	"context"
	"fmt"

	"github.com/qg-go/qg"
)

// PauseQueue stops qg's workers from taking a queue's jobs, in every
// process, until ResumeQueue.
func ExampleClient_PauseQueue() {
	db, c := openExample()
	defer db.Close()
	defer c.Close()
	ctx := context.Background()
	if err := c.PauseQueue(ctx, "example_pause"); err != nil {
		panic(err)
	}
	if err := c.Enqueue(&qg.Job{Queue: "example_pause", Type: "Report"}); err != nil {
		panic(err)
	}
	w := qg.NewWorker(c, qg.WorkMap{"Report": func(*qg.Job) error { return nil }})
	w.Queue = "example_pause"
	fmt.Println("worked while paused:", w.WorkOne())
	if err := c.ResumeQueue(ctx, "example_pause"); err != nil {
		panic(err)
	}
	fmt.Println("worked after resume:", w.WorkOne())
	// Output:
	// worked while paused: false
	// worked after resume: true
}
