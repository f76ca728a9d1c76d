package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qg-go/qg"
)

var enqueueCommand = &command{
	name:     "enqueue",
	summary:  "insert a job",
	synopsis: "enqueue --type CLASS [--args JSON] [--queue NAME] [--priority N] [--run-at TIME] [--database-url URL] [--json]",
	usage: `
Enqueue inserts one job into que_jobs, as qg's Client.Enqueue does, and
prints its job_id. A Ruby Que worker splats the args into the job's run
method: jobs meant for Ruby must carry a JSON array, like ["a", 1].

Examples:
  qg enqueue --type SendEmail --args '["bob@example.com", 42]'
  qg enqueue --type Billing::ChargeCard --queue billing --priority 10 --run-at +5m`,
	setup: setupEnqueue,
}

// enqueueFlags are the flags of enqueue.
type enqueueFlags struct {
	jobClass string
	args     string
	queue    string
	priority int
	runAt    string
}

// setupEnqueue defines enqueue's flags.
func setupEnqueue(fs *flag.FlagSet) runner {
	f := &enqueueFlags{}
	fs.StringVar(&f.jobClass, "type", "", "the job class (`CLASS`): a WorkMap key in Go, a class name for Ruby; required")
	fs.StringVar(&f.args, "args", "[]", "the job's arguments as `JSON`")
	fs.StringVar(&f.queue, "queue", "", "the `NAME` of the queue; default: the default queue, named \"\"")
	fs.IntVar(&f.priority, "priority", 100, "the priority `N`, lower runs first: -32768 to 32767, but not 0")
	fs.StringVar(&f.runAt, "run-at", "", "when to run it (`TIME`): RFC 3339 (2030-01-02T15:04:05Z), or a duration from\nthe server's now (+5m, 90s, 2d); default: now")
	return func(ctx context.Context, e *env, opts *options) error {
		return runEnqueue(ctx, e, opts, f)
	}
}

// enqueueResult is the job enqueue inserted.
type enqueueResult struct {
	JobID    int64           `json:"job_id"`
	Queue    string          `json:"queue"`
	JobClass string          `json:"job_class"`
	Priority int16           `json:"priority"`
	RunAt    timestamp       `json:"run_at"`
	Args     json.RawMessage `json:"args"`
}

// runEnqueue checks the flags, then inserts the job.
func runEnqueue(ctx context.Context, e *env, opts *options, f *enqueueFlags) error {
	job, when, err := f.job()
	if err != nil {
		return err
	}
	db, err := openDB(ctx, e, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := insertJob(ctx, db, job, when); err != nil {
		return err
	}
	return render(e, opts, &enqueueResult{job.ID, job.Queue, job.Type, job.Priority, timestamp(job.RunAt), job.Args})
}

// job checks the flags and returns the job they describe and its run-at.
// Every mistake is a usage error, found before connecting.
func (f *enqueueFlags) job() (*qg.Job, runAt, error) {
	if f.jobClass == "" {
		return nil, runAt{}, usagef("--type is required: the job class, like SendEmail")
	}
	for name, s := range map[string]string{"--type": f.jobClass, "--queue": f.queue} {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return nil, runAt{}, usagef("%s %s: holds a NUL byte or invalid UTF-8, which a text column cannot store", name, shown(s))
		}
	}
	if !json.Valid([]byte(f.args)) {
		return nil, runAt{}, usagef("--args is not valid JSON: %.80q", f.args)
	}
	if f.priority == 0 || f.priority < math.MinInt16 || f.priority > math.MaxInt16 {
		return nil, runAt{}, usagef("--priority %d: want -32768 to 32767, not 0 (qg reads 0 as the default, 100)", f.priority)
	}
	when, err := parseRunAt(f.runAt)
	if err != nil {
		return nil, runAt{}, &usageError{err: err}
	}
	j := &qg.Job{Type: f.jobClass, Args: []byte(f.args), Queue: f.queue, Priority: int16(f.priority)}
	return j, when, nil
}

// insertJob enqueues j through a qg.Client, at when. A relative time counts
// from the server's clock, as run_at's default now() does.
func insertJob(ctx context.Context, db *sql.DB, j *qg.Job, when runAt) error {
	c, err := newClient(db)
	if err != nil {
		return err
	}
	defer c.Close()
	j.RunAt = when.at
	if when.relative && when.delay != 0 {
		var now time.Time
		if err := db.QueryRowContext(ctx, `SELECT now()`).Scan(&now); err != nil {
			return fmt.Errorf("read the server's clock: %w", err)
		}
		j.RunAt = now.Add(when.delay)
	}
	return c.EnqueueContext(ctx, j)
}
