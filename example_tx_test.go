package qg_test

import (
	"database/sql"
	"fmt"
	"os"

	"github.com/qg-go/qg"
)

// Enqueue a job in the same transaction as the application's own writes: the
// job exists if and only if the transaction commits.
func ExampleClient_EnqueueInTx() {
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
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS example_orders (id bigint PRIMARY KEY)`); err != nil {
		panic(err)
	}

	placeOrder := func(id int, commit bool) {
		tx, err := db.Begin()
		if err != nil {
			panic(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(`INSERT INTO example_orders (id) VALUES ($1)`, id); err != nil {
			panic(err)
		}
		job := &qg.Job{Queue: "example_tx", Type: "ShipOrder", Args: []byte(fmt.Sprintf("[%d]", id))}
		if err := c.EnqueueInTx(job, tx); err != nil {
			panic(err)
		}
		if commit {
			if err := tx.Commit(); err != nil {
				panic(err)
			}
		}
	}
	placeOrder(1, true)
	placeOrder(2, false) // rolled back: no order, no job

	var jobs int
	if err := db.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = 'example_tx'`).Scan(&jobs); err != nil {
		panic(err)
	}
	fmt.Println("jobs enqueued:", jobs)
	if _, err := db.Exec(`DELETE FROM que_jobs WHERE queue = 'example_tx'; DROP TABLE example_orders`); err != nil {
		panic(err)
	}
	// Output:
	// jobs enqueued: 1
}
