package qg_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	"github.com/qg-go/qg"
)

// On a Ruby Que 2.x table (que_jobs at schema version 7, here made by
// MigrateQue2 for a Go-first team; Ruby's Que.migrate!(version: 7) makes the
// same), the same API enqueues rows Ruby Que 2 runs: keyword arguments in
// Kwargs, tags in Tags, and the empty queue is Que 2's 'default'.
func Example_que2() {
	db, err := sql.Open("pgx", os.Getenv("QUE2_DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := qg.MigrateQue2(ctx, db); err != nil { // leaves a Ruby-made table alone
		panic(err)
	}
	c, err := qg.NewClient2(db) // detects the table's generation
	if err != nil {
		panic(err)
	}
	defer c.Close()

	err = c.Enqueue(&qg.Job{
		Queue:  "example_que2",
		Type:   "Billing::ChargeCard", // Ruby: ChargeCard.enqueue(42, amount: 1.5, job_options: {tags: ["eu"]})
		Args:   []byte(`[42]`),
		Kwargs: []byte(`{"amount": 1.5}`),
		Tags:   []string{"eu"},
	})
	if err != nil {
		panic(err)
	}
	w := qg.NewWorker(c, qg.WorkMap{
		"Billing::ChargeCard": func(j *qg.Job) error {
			var id int
			if err := j.DecodeArgs(&id); err != nil {
				return err
			}
			fmt.Printf("charge %d %s tags %v\n", id, j.Kwargs, j.Tags)
			return nil // deleted, as Que 2 destroys a job whose run returns
		},
	})
	w.Queue = "example_que2"
	w.WorkOne()
	// Output:
	// charge 42 {"amount": 1.5} tags [eu]
}
