package qg_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	"github.com/qg-go/qg"
)

// Enqueue a job on every tick of a schedule. Run the same Scheduler in as
// many processes as you like: each tick is enqueued once among them, as an
// ordinary que_jobs row that Go and Ruby workers can work.
func ExampleScheduler() {
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

	s := qg.NewScheduler(c)
	err = s.Register(qg.PeriodicJob{
		Name:     "example-heartbeat",
		Schedule: qg.Every(100 * time.Millisecond), // or qg.MustParseCron("*/5 * * * *")
		Job: func(tick time.Time) *qg.Job {
			return &qg.Job{
				Queue: "example_periodic",
				Type:  "Heartbeat",
				Args:  qg.MustArgs(tick.UTC().Format(time.RFC3339Nano)),
			}
		},
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()

	// Wait for the first tick's job; a Worker on the queue would work it.
	var jobClass, arg string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		err = db.QueryRow(`SELECT job_class, args->>0 FROM que_jobs
WHERE queue = 'example_periodic' ORDER BY job_id LIMIT 1`).Scan(&jobClass, &arg)
		if err == nil {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		panic(err)
	}
	tick, err := time.Parse(time.RFC3339Nano, arg)
	if err != nil {
		panic(err)
	}
	fmt.Println(jobClass, "enqueued for a tick on a multiple of 100ms:", tick.Equal(tick.Truncate(100*time.Millisecond)))

	if _, err := db.Exec(`DELETE FROM que_jobs WHERE queue = 'example_periodic';
DELETE FROM qg_periodic WHERE name = 'example-heartbeat'`); err != nil {
		panic(err)
	}
	// Output:
	// Heartbeat enqueued for a tick on a multiple of 100ms: true
}

// A cron expression read in a time zone. On the night clocks go forward,
// 02:30 does not exist in Paris: a fixed time that a change skips runs once,
// when the gap ends.
func ExampleParseCron() {
	nightly, err := qg.ParseCron("CRON_TZ=Europe/Paris 30 2 * * *")
	if err != nil {
		panic(err)
	}
	t := time.Date(2024, 3, 30, 12, 0, 0, 0, time.UTC)
	for range 3 {
		t = nightly.Next(t)
		fmt.Println(t)
	}
	// Output:
	// 2024-03-31 03:00:00 +0200 CEST
	// 2024-04-01 02:30:00 +0200 CEST
	// 2024-04-02 02:30:00 +0200 CEST
}
