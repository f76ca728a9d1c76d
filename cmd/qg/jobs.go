package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/qg-go/qg"
)

// jobStates are the states --state takes, in a job's usual order.
var jobStates = []qg.JobState{qg.JobScheduled, qg.JobReady, qg.JobRunning, qg.JobRetrying, qg.JobDead,
	qg.JobExpired, qg.JobFinished, qg.JobOtherVersion}

var jobsCommand = &command{
	name:     "jobs",
	summary:  "list jobs, filtered by queue, class and state",
	synopsis: "jobs [--queue NAME]... [--class NAME]... [--state STATE] [--after JOB_ID] [--limit N] [--database-url URL] [--json]",
	usage: `
Jobs lists the jobs of que_jobs in job_id order with their state, run_at,
error count and last error. A state is read from the row and the locks:
  scheduled  run_at is in the future and the job never failed
  ready      runnable now, waiting for a worker
  running    a session (a Go or a Ruby worker) holds its job lock
  retrying   failed, waiting for its next try at run_at
  dead       given up, in a queue qg:dead:<queue> (Que 0.x table)
  expired    given up, expired_at set (Que 2.x table; dead and expired
             both list the given-up jobs of either table)
  finished   kept by Ruby's finish, finished_at set (Que 2.x table)
--queue and --class may be given more than once; --queue '' is the default
queue. A full page ends with the command that shows the next one.`,
	setup: setupJobs,
}

// jobsFlags are the flags of jobs.
type jobsFlags struct {
	queues, classes listFlag
	state           string
	after           int64
	limit           int
}

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// setupJobs defines the flags of jobs.
func setupJobs(fs *flag.FlagSet) runner {
	f := &jobsFlags{}
	fs.Var(&f.queues, "queue", "list the jobs of queue `NAME` (repeatable; '' is the default queue)")
	fs.Var(&f.classes, "class", "list the jobs of job class `NAME` (repeatable)")
	fs.StringVar(&f.state, "state", "", "list the jobs in `STATE`: scheduled, ready, running, retrying, dead, expired or finished")
	fs.Int64Var(&f.after, "after", 0, "list the jobs after `JOB_ID` (the last of the previous page)")
	fs.IntVar(&f.limit, "limit", 100, "list at most `N` jobs")
	return func(ctx context.Context, e *env, opts *options) error {
		return runJobs(ctx, e, opts, f)
	}
}

// jobsResult is what jobs prints.
type jobsResult struct {
	Jobs []qg.JobInfo `json:"jobs"`
	Next *int64       `json:"next_after,omitempty"` // --after for the next page, when this one is full
	now  time.Time
	args []string // the command line, for the next page's
}

// runJobs checks the flags and lists the jobs.
func runJobs(ctx context.Context, e *env, opts *options, f *jobsFlags) error {
	if f.state != "" && !validState(f.state) {
		return usagef("--state %q: want one of %s", f.state, stateNames())
	}
	if f.limit <= 0 {
		return usagef("--limit %d: want a positive number of jobs", f.limit)
	}
	c, done, err := openClient(ctx, e, opts)
	if err != nil {
		return err
	}
	defer done()
	jobs, err := c.ListJobs(ctx, qg.JobFilter{Queues: f.queues, Types: f.classes,
		State: qg.JobState(f.state), AfterID: f.after, Limit: f.limit})
	if err != nil {
		return err
	}
	res := &jobsResult{Jobs: jobs, now: time.Now(), args: f.nextArgs()}
	if len(jobs) == f.limit {
		last := jobs[len(jobs)-1].ID
		res.Next = &last
	}
	return render(e, opts, res)
}

// validState reports whether s names a job state.
func validState(s string) bool {
	for _, st := range jobStates {
		if string(st) == s {
			return true
		}
	}
	return false
}

// stateNames lists the states for a message.
func stateNames() string {
	names := make([]string, len(jobStates))
	for i, s := range jobStates {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// nextArgs are the flags of this listing, for the command of the next page.
func (f *jobsFlags) nextArgs() []string {
	var args []string
	for _, q := range f.queues {
		args = append(args, "--queue", strconv.Quote(q))
	}
	for _, c := range f.classes {
		args = append(args, "--class", strconv.Quote(c))
	}
	if f.state != "" {
		args = append(args, "--state", f.state)
	}
	if f.limit != 100 {
		args = append(args, "--limit", strconv.Itoa(f.limit))
	}
	return args
}

var jobsHeader = []string{"JOB ID", "QUEUE", "JOB CLASS", "STATE", "RUN AT", "ERRORS", "LAST ERROR"}

// printText writes the jobs as a table, and how to get the next page.
func (res *jobsResult) printText(w io.Writer) error {
	if len(res.Jobs) == 0 {
		_, err := fmt.Fprintln(w, "No job matches.")
		return err
	}
	rows := make([][]string, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		rows = append(rows, []string{strconv.FormatInt(j.ID, 10), queueLabel(j.Queue), j.Type, string(j.State),
			humanTime(j.RunAt, res.now), strconv.Itoa(int(j.ErrorCount)), firstLine(deref(j.LastError), 50)})
	}
	if err := writeTable(w, jobsHeader, rows); err != nil {
		return err
	}
	if res.Next != nil {
		next := append([]string{"qg", "jobs"}, res.args...)
		next = append(next, "--after", strconv.FormatInt(*res.Next, 10))
		_, err := fmt.Fprintf(w, "\nMore jobs may follow: %s\n", strings.Join(next, " "))
		return err
	}
	return nil
}

var jobCommand = &command{
	name:     "job",
	summary:  "show one job, whole",
	synopsis: "job JOB_ID [--database-url URL] [--json]",
	usage: `
Job shows every column of one job, its state (see 'qg jobs -h'), its args as
indented JSON, its whole last error (a panic's stack trace included) and,
while it is being worked, the pid of the session holding its lock.`,
	operand: "JOB_ID",
	setup:   func(fs *flag.FlagSet) runner { return runJob },
}

// jobResult is what job prints.
type jobResult struct {
	*qg.JobInfo
	now time.Time
}

// runJob shows the job the operand names.
func runJob(ctx context.Context, e *env, opts *options) error {
	id, c, done, err := openJobClient(ctx, e, opts)
	if err != nil {
		return err
	}
	defer done()
	info, err := c.FindJob(ctx, id)
	if err != nil {
		return err
	}
	return render(e, opts, &jobResult{info, time.Now()})
}

// printText writes the job's fields one a line.
func (res *jobResult) printText(w io.Writer) error {
	j := res.JobInfo
	var args bytes.Buffer
	if json.Indent(&args, j.Args, "  ", "  ") != nil {
		args.Reset()
		args.Write(j.Args)
	}
	fmt.Fprintf(w, "job_id:      %d\nqueue:       %s\njob_class:   %s\npriority:    %d\n",
		j.ID, queueLabel(j.Queue), j.Type, j.Priority)
	fmt.Fprintf(w, "run_at:      %s\nstate:       %s\n", humanTime(j.RunAt, res.now), j.State)
	if j.WorkerPID != 0 {
		fmt.Fprintf(w, "worker pid:  %d (see pg_stat_activity)\n", j.WorkerPID)
	}
	fmt.Fprintf(w, "error_count: %d\nargs:        %s\n", j.ErrorCount, args.String())
	if j.LastError == nil {
		_, err := fmt.Fprintln(w, "last_error:  -")
		return err
	}
	_, err := fmt.Fprintf(w, "last_error:\n  %s\n", strings.ReplaceAll(*j.LastError, "\n", "\n  "))
	return err
}

var deleteCommand = &command{
	name:     "delete",
	summary:  "delete a job without running it",
	synopsis: "delete JOB_ID [--database-url URL] [--json]",
	usage: `
Delete removes one job from que_jobs, whatever its queue and state, without
running it. A job being worked (a session holds its lock) is left alone and
delete exits with 1: stop its worker, or wait for it.`,
	operand: "JOB_ID",
	setup:   func(fs *flag.FlagSet) runner { return runDelete },
}

// deleteResult is what delete prints.
type deleteResult struct {
	JobID    int64  `json:"job_id"`
	Queue    string `json:"queue"`
	JobClass string `json:"job_class"`
	Deleted  bool   `json:"deleted"`
}

// runDelete deletes the job the operand names.
func runDelete(ctx context.Context, e *env, opts *options) error {
	id, c, done, err := openJobClient(ctx, e, opts)
	if err != nil {
		return err
	}
	defer done()
	info, err := c.FindJob(ctx, id)
	if err != nil {
		return err
	}
	if err := c.DeleteJob(ctx, id); err != nil {
		return err
	}
	return render(e, opts, &deleteResult{id, info.Queue, info.Type, true})
}

// printText says which job was deleted.
func (res *deleteResult) printText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "deleted job %d (%s in queue %s)\n", res.JobID, res.JobClass, queueLabel(res.Queue))
	return err
}

// jobID parses a job id operand.
func jobID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, usagef("job id %q: want a whole number (a job_id)", s)
	}
	return id, nil
}
