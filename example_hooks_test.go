package qg_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/qg-go/qg"
)

// Hooks see each job's events (feed them to metrics); the Logger gets qg's
// records as slog attributes (job_class, queue, error_count, ...).
func ExampleHooks() {
	_, c, closeAll := exampleClient() // sql.Open("pgx", DATABASE_URL), qg.NewClient2
	defer closeAll()
	for _, t := range []string{"Ping", "Flaky"} {
		if err := c.Enqueue(&qg.Job{Queue: "example_hooks", Type: t}); err != nil {
			panic(err)
		}
	}

	w := qg.NewWorker(c, qg.WorkMap{
		"Ping":  func(*qg.Job) error { return nil },
		"Flaky": func(*qg.Job) error { return errors.New("upstream timed out") },
	})
	w.Queue = "example_hooks"
	w.Hooks.Worked = func(e qg.JobEvent) { fmt.Println("hook: worked", e.Job.Type) }
	w.Hooks.Failed = func(e qg.JobEvent) { fmt.Println("hook: failed", e.Job.Type, e.Err) }
	w.Logger = slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key { // drop what changes from run to run
			case slog.TimeKey, "job_id", "duration":
				return slog.Attr{}
			}
			return a
		},
	}))
	w.WorkOne()
	w.WorkOne()
	// Output:
	// hook: worked Ping
	// level=WARN msg="qg: job failed" job_class=Flaky queue=example_hooks error_count=1 error="upstream timed out"
	// hook: failed Flaky upstream timed out
}
