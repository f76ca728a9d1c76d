package qg_test

import (
	"fmt"

	"github.com/qg-go/qg"
)

// Lock and finish a job by hand, without a Worker: LockJob holds the job's
// lock on a connection of its own until Done. Delete finishes it; Error
// records a failure instead.
func ExampleClient_LockJob() {
	_, c, closeAll := exampleClient() // sql.Open("pgx", DATABASE_URL), qg.NewClient2
	defer closeAll()
	if err := c.Enqueue(&qg.Job{Queue: "example_lockjob", Type: "Export", Args: qg.MustArgs(42)}); err != nil {
		panic(err)
	}

	j, err := c.LockJob("example_lockjob")
	if err != nil {
		panic(err)
	}
	defer j.Done() // always: it unlocks the job and gives the connection back
	var report int
	if err := j.DecodeArgs(&report); err != nil {
		_ = j.Error(err.Error()) // retried after the backoff
		return
	}
	fmt.Println("exporting report", report)
	if err := j.Delete(); err != nil {
		panic(err)
	}

	next, err := c.LockJob("example_lockjob")
	fmt.Println(next, err) // nothing else is runnable
	// Output:
	// exporting report 42
	// <nil> <nil>
}
