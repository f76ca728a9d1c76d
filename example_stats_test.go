package qg_test

import (
	"fmt"

	"github.com/qg-go/qg"
)

// Stats counts the jobs per queue and class, with those being worked right
// now (by any worker, Go or Ruby) and those that failed.
func ExampleClient_Stats() {
	_, c, closeAll := exampleClient() // sql.Open("pgx", DATABASE_URL), qg.NewClient2
	defer closeAll()
	for range 3 {
		if err := c.Enqueue(&qg.Job{Queue: "example_stats", Type: "Thumbnail"}); err != nil {
			panic(err)
		}
	}
	j, err := c.LockJob("example_stats") // one is being worked
	if err != nil {
		panic(err)
	}
	defer j.Done()

	stats, err := c.Stats()
	if err != nil {
		panic(err)
	}
	for _, s := range stats {
		if s.Queue == "example_stats" {
			fmt.Printf("%s: %d jobs, %d working, %d errored\n", s.Type, s.Count, s.CountWorking, s.CountErrored)
		}
	}
	// Output: Thumbnail: 3 jobs, 1 working, 0 errored
}
