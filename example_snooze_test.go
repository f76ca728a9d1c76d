package qg_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	"github.com/qg-go/qg"
)

// openExample opens the example database and a Client on it.
func openExample() (*sql.DB, *qg.Client) {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	c, err := qg.NewClient2(db)
	if err != nil {
		panic(err)
	}
	return db, c
}

// A WorkFunc puts its job off with Snooze when it cannot run yet: the job
// comes back later with no failure counted.
func ExampleSnooze() {
	db, c := openExample()
	defer db.Close()
	defer c.Close()
	job := &qg.Job{Queue: "example_snooze", Type: "SyncInvoice", Args: qg.MustArgs(42)}
	if err := c.Enqueue(job); err != nil {
		panic(err)
	}
	w := qg.NewWorker(c, qg.WorkMap{"SyncInvoice": func(j *qg.Job) error {
		return qg.Snooze(10 * time.Minute) // the remote side is in maintenance
	}})
	w.Queue = "example_snooze"
	w.WorkOne()

	info, err := c.FindJob(context.Background(), job.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(info.State, info.ErrorCount)
	_ = c.DeleteJob(context.Background(), job.ID)
	// Output: scheduled 0
}
