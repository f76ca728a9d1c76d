package qg_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/qg-go/qg"
)

// A WorkFunc chooses what happens after a failure: RetryIn (or RetryAt)
// sets the next run, GiveUp moves the job to its dead-letter queue.
func ExampleRetryIn() {
	db, c, closeAll := exampleClient() // sql.Open("pgx", DATABASE_URL), qg.NewClient2
	defer closeAll()
	for _, card := range []string{"expired", "stolen"} {
		if err := c.Enqueue(&qg.Job{Queue: "example_control", Type: "Charge", Args: qg.MustArgs(card)}); err != nil {
			panic(err)
		}
	}

	w := qg.NewWorker(c, qg.WorkMap{"Charge": func(j *qg.Job) error {
		var card string
		if err := j.DecodeArgs(&card); err != nil {
			return err
		}
		if card == "stolen" {
			return qg.GiveUp(errors.New("card reported stolen")) // never retried
		}
		return qg.RetryIn(time.Hour, errors.New("card expired: the customer may renew it"))
	}})
	w.Queue = "example_control"
	w.WorkOne()
	w.WorkOne()

	rows, err := db.Query(`SELECT queue, error_count, run_at > now() + interval '59 minutes'
FROM que_jobs WHERE queue IN ('example_control', $1) ORDER BY queue`, qg.DeadQueue("example_control"))
	if err != nil {
		panic(err)
	}
	defer rows.Close()
	for rows.Next() {
		var queue string
		var errors int
		var inAnHour bool
		if err := rows.Scan(&queue, &errors, &inAnHour); err != nil {
			panic(err)
		}
		fmt.Println(queue, errors, inAnHour)
	}
	// Output:
	// example_control 1 true
	// qg:dead:example_control 1 false
}
