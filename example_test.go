package qg_test

import (
	"database/sql"
	"fmt"
	"os"
	"time"

	_ "github.com/jackc/pgx/v4/stdlib" // the "pgx" database/sql driver

	"github.com/qg-go/qg"
)

// Enqueue two jobs and work them with a Worker.
func Example() {
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

	for i, name := range []string{"ada", "grace"} {
		err := c.Enqueue(&qg.Job{
			Queue:    "example_basic",
			Type:     "SendWelcome",
			Priority: int16(i + 1), // lower runs first
			Args:     qg.MustArgs(name),
		})
		if err != nil {
			panic(err)
		}
	}

	done := make(chan struct{})
	sent := 0
	w := qg.NewWorker(c, qg.WorkMap{
		"SendWelcome": func(j *qg.Job) error {
			var name string
			if err := j.DecodeArgs(&name); err != nil {
				return err // recorded on the job, which runs again later
			}
			fmt.Println("welcome,", name)
			if sent++; sent == 2 {
				close(done)
			}
			return nil // the job is deleted
		},
	})
	w.Queue = "example_basic"
	w.Interval = 100 * time.Millisecond
	go w.Work()
	<-done
	w.Shutdown()
	// Output:
	// welcome, ada
	// welcome, grace
}

// exampleClient opens the database the examples run in (DATABASE_URL, as a
// program would) and a Client on it, as [Example] does; the function it
// returns closes both.
func exampleClient() (*sql.DB, *qg.Client, func()) {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	c, err := qg.NewClient2(db)
	if err != nil {
		panic(err)
	}
	return db, c, func() { c.Close(); db.Close() }
}
