package qg_test

import (
	"context"
	"fmt"
	"time"

	"github.com/qg-go/qg"
)

// With the notify trigger installed and Listen set, a pool wakes as soon as
// any producer (another process, Ruby, a raw INSERT) adds a job, instead of
// at its next poll.
func ExampleWorkerPool_listen() {
	db, c, closeAll := exampleClient() // sql.Open("pgx", DATABASE_URL), qg.NewClient2
	defer closeAll()
	ctx := context.Background()
	if err := qg.InstallNotifyTrigger(ctx, db); err != nil {
		panic(err)
	}
	defer qg.RemoveNotifyTrigger(ctx, db) //nolint:errcheck // the example's cleanup

	got := make(chan string, 1)
	p := qg.NewWorkerPool(c, qg.WorkMap{"Notify": func(j *qg.Job) error {
		got <- string(j.Args)
		return nil
	}}, 1)
	p.Queue, p.Interval, p.Listen = "example_listen", time.Hour, true // polling alone would wait an hour
	p.Start()
	defer p.Shutdown()

	// Another producer's insert, once the pool listens and has polled.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var listening bool
		if err := db.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'LISTEN %')`).Scan(&listening); err != nil {
			panic(err)
		}
		if listening || time.Now().After(deadline) {
			break
		}
	}
	if _, err := db.Exec(`INSERT INTO que_jobs (queue, job_class, args) VALUES ('example_listen', 'Notify', '["from ruby"]')`); err != nil {
		panic(err)
	}
	select {
	case args := <-got:
		fmt.Println("woken for", args)
	case <-time.After(30 * time.Second):
		fmt.Println("not woken")
	}
	// Output: woken for ["from ruby"]
}
