package qg_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	"github.com/qg-go/qg"
)

// Enqueue a job only if an equal one (same queue, type and args) is not
// already waiting or running. A duplicate is not an error: the Job says so.
func ExampleJob_unique() {
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
	// Once per database, by que_jobs' owner: the triggers that free a key
	// when its job leaves the table.
	if err := qg.EnableUniqueJobs(context.Background(), db); err != nil {
		panic(err)
	}

	refresh := func() *qg.Job {
		j := &qg.Job{Queue: "example_unique", Type: "RefreshFeed", Args: []byte(`[42]`), Unique: true}
		if err := c.Enqueue(j); err != nil {
			panic(err)
		}
		return j
	}
	first := refresh()
	second := refresh()
	fmt.Println("first enqueued:", !first.Duplicate)
	fmt.Println("second is a duplicate of the first:", second.Duplicate && second.ID == first.ID)

	// Once the job is worked, its key is free again.
	w := qg.NewWorker(c, qg.WorkMap{"RefreshFeed": func(j *qg.Job) error {
		fmt.Println("refreshing feed 42")
		return nil
	}})
	w.Queue = "example_unique"
	w.WorkOne()
	third := refresh()
	fmt.Println("enqueued again after the work:", !third.Duplicate)

	// Clean up, so that the example can run again.
	if _, err := db.Exec(`DELETE FROM que_jobs WHERE queue = 'example_unique'`); err != nil {
		panic(err)
	}
	// Output:
	// first enqueued: true
	// second is a duplicate of the first: true
	// refreshing feed 42
	// enqueued again after the work: true
}

// Send at most one reminder a day to a user, whatever the args: a key of
// the caller's own, held for a day after the job was worked.
func ExampleJob_uniqueFor() {
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
	// Once per database, by que_jobs' owner: the triggers that free a key
	// when its job leaves the table.
	if err := qg.EnableUniqueJobs(context.Background(), db); err != nil {
		panic(err)
	}

	remind := func(text string) int64 {
		j := &qg.Job{
			Queue:     "example_unique_for",
			Type:      "Remind",
			Args:      qg.MustArgs(7, text),
			UniqueKey: "Remind:user:7",
			UniqueFor: 24 * time.Hour,
		}
		if err := c.Enqueue(j); err != nil {
			panic(err)
		}
		fmt.Printf("%q duplicate: %v\n", text, j.Duplicate)
		return j.ID
	}
	id := remind("your cart")
	w := qg.NewWorker(c, qg.WorkMap{"Remind": func(j *qg.Job) error { return nil }})
	w.Queue = "example_unique_for"
	w.WorkOne()
	remind("your wishlist") // worked an instant ago: still a duplicate

	// Clean up, so that the example can run again.
	if _, err := db.Exec(`DELETE FROM qg_unique WHERE job_id = $1`, id); err != nil {
		panic(err)
	}
	// Output:
	// "your cart" duplicate: false
	// "your wishlist" duplicate: true
}
