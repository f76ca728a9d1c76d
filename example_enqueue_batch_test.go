package qg_test

import (
	"context"
	"fmt"

	"github.com/qg-go/qg"
)

// EnqueueBatch inserts many jobs in one statement and one round trip; each
// Job gets its ID, Priority and RunAt back.
func ExampleClient_EnqueueBatch() {
	_, c, closeAll := exampleClient() // sql.Open("pgx", DATABASE_URL), qg.NewClient2
	defer closeAll()

	var jobs []*qg.Job
	for _, user := range []string{"ada", "grace", "edsger"} {
		jobs = append(jobs, &qg.Job{Queue: "example_enqueue_batch", Type: "Digest", Args: qg.MustArgs(user)})
	}
	jobs[2].Priority = 10 // runs first
	if err := c.EnqueueBatch(context.Background(), jobs); err != nil {
		panic(err)
	}
	fmt.Println(jobs[0].ID < jobs[1].ID, jobs[0].Priority, jobs[2].Priority)

	j, err := c.LockJob("example_enqueue_batch")
	if err != nil {
		panic(err)
	}
	defer j.Done()
	fmt.Println(string(j.Args))
	// Output:
	// true 100 10
	// ["edsger"]
}
