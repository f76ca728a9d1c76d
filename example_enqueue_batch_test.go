package qg_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	"github.com/qg-go/qg"
)

// EnqueueBatch inserts many jobs in one statement and one round trip; each
// Job gets its ID, Priority and RunAt back.
func ExampleClient_EnqueueBatch() {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	c, err := qg.NewClient2(db)
	if err != nil {
		panic(err)
	}
	defer c.Close()

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
