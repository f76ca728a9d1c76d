package qg_test

import (
	"context"
	"fmt"
	"time"

	"github.com/qg-go/qg"
)

// Keep finished jobs: with the archive enabled, every job deleted from
// que_jobs is copied into qg_jobs_archive with its outcome; PruneArchive
// keeps the archive to a retention period (run it periodically).
func ExampleEnableArchive() {
	db, c, closeAll := exampleClient() // sql.Open("pgx", DATABASE_URL), qg.NewClient2
	defer closeAll()
	ctx := context.Background()
	if err := qg.EnableArchive(ctx, db); err != nil {
		panic(err)
	}
	defer qg.DisableArchive(ctx, db) //nolint:errcheck // the example's cleanup
	job := &qg.Job{Queue: "example_retention", Type: "Invoice"}
	if err := c.Enqueue(job); err != nil {
		panic(err)
	}
	w := qg.NewWorker(c, qg.WorkMap{"Invoice": func(*qg.Job) error { return nil }})
	w.Queue = "example_retention"
	w.WorkOne()

	var outcome string
	if err := db.QueryRow(`SELECT outcome FROM qg_jobs_archive WHERE job_id = $1`, job.ID).Scan(&outcome); err != nil {
		panic(err)
	}
	fmt.Println("archived as", outcome)

	// A retention of 30 days keeps it; a retention of zero prunes it.
	for _, retention := range []time.Duration{30 * 24 * time.Hour, 0} {
		if _, err := qg.PruneArchive(ctx, db, retention, 0); err != nil {
			panic(err)
		}
		var left int
		if err := db.QueryRow(`SELECT count(*) FROM qg_jobs_archive WHERE job_id = $1`, job.ID).Scan(&left); err != nil {
			panic(err)
		}
		fmt.Printf("after pruning with a retention of %v: %d\n", retention, left)
	}
	// Output:
	// archived as worked
	// after pruning with a retention of 720h0m0s: 1
	// after pruning with a retention of 0s: 0
}
