package qg_test

import (
	"fmt"

	"github.com/qg-go/qg"
)

// Sync mode runs a job's WorkFunc in the caller of Enqueue instead of
// inserting the job: for development, and for tests of code that enqueues.
func ExampleClient_sync() {
	db, c, closeAll := exampleClient() // sql.Open("pgx", DATABASE_URL), qg.NewClient2
	defer closeAll()
	c.Sync = qg.WorkMap{"Greet": func(j *qg.Job) error {
		var name string
		if err := j.DecodeArgs(&name); err != nil {
			return err
		}
		fmt.Println("hello,", name)
		return nil
	}}

	err := c.Enqueue(&qg.Job{Queue: "example_sync", Type: "Greet", Args: qg.MustArgs("ada")})
	fmt.Println("enqueue returned", err)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = 'example_sync'`).Scan(&n); err != nil {
		panic(err)
	}
	fmt.Println("rows in que_jobs:", n)
	// Output:
	// hello, ada
	// enqueue returned <nil>
	// rows in que_jobs: 0
}
