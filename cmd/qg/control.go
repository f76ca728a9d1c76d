package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

var snoozeCommand = &command{
	name:     "snooze",
	summary:  "put a queued job off for a while, no failure counted",
	synopsis: "snooze JOB_ID --for DURATION [--database-url URL] [--json]",
	usage: `
Snooze moves a job's run_at to now plus --for, keeping its error_count and
last_error. A job being worked is left alone and snooze exits with 1 (its
WorkFunc may return qg.Snooze itself).`,
	operand: "JOB_ID",
	setup:   setupSnooze,
}

// setupSnooze defines the flags of snooze.
func setupSnooze(fs *flag.FlagSet) runner {
	var d string
	fs.StringVar(&d, "for", "", "how long to put the job off (`DURATION`: 90m, 12h, 2d); required")
	return func(ctx context.Context, e *env, opts *options) error {
		id, err := jobID(opts.operand)
		if err != nil {
			return err
		}
		delay, err := parseDuration(d)
		if err != nil || delay <= 0 {
			return usagef("--for %q: want a positive duration, like 90m or 2d", d)
		}
		c, done, err := openClient(ctx, e, opts)
		if err != nil {
			return err
		}
		defer done()
		if err := c.SnoozeJob(ctx, id, delay); err != nil {
			return err
		}
		return render(e, opts, &controlResult{Action: "snoozed", JobID: id, For: delay.String()})
	}
}

var cancelCommand = &command{
	name:     "cancel",
	summary:  "cancel a job: remove it if queued, stop it if running",
	synopsis: "cancel JOB_ID [--database-url URL] [--json]",
	usage: `
Cancel removes a queued job at once. A job being worked is asked to stop: the
qg worker holding it, in whichever process, cancels the job's context within
about a second, rolls its work back and removes it instead of retrying it.
Ruby Que workers do not know of cancel requests and finish the job.`,
	operand: "JOB_ID",
	setup: func(fs *flag.FlagSet) runner {
		return func(ctx context.Context, e *env, opts *options) error {
			id, c, done, err := openJobClient(ctx, e, opts)
			if err != nil {
				return err
			}
			defer done()
			running, err := c.CancelJob(ctx, id)
			if err != nil {
				return err
			}
			action := "removed (it was queued)"
			if running {
				action = "asked to stop (it is being worked)"
			}
			return render(e, opts, &controlResult{Action: action, JobID: id, Running: running})
		}
	},
}

var pauseCommand = &command{
	name:     "pause",
	summary:  "pause a queue: qg workers lock none of its jobs until resume",
	synopsis: "pause QUEUE [--database-url URL] [--json]",
	usage: `
Pause stops qg's workers, in every process, from locking the queue's jobs
from their next look on; running jobs finish, enqueues go on. Ruby Que
workers do not know of pauses and keep working the queue. '' is the default
queue.`,
	operand: "QUEUE",
	setup:   func(fs *flag.FlagSet) runner { return queueAction("paused") },
}

var resumeCommand = &command{
	name:     "resume",
	summary:  "resume a paused queue",
	synopsis: "resume QUEUE [--database-url URL] [--json]",
	usage: `
Resume ends a pause of the queue; qg workers listening for notifications wake
at once, the others at their next poll.`,
	operand: "QUEUE",
	setup:   func(fs *flag.FlagSet) runner { return queueAction("resumed") },
}

// queueAction pauses or resumes the queue the operand names.
func queueAction(action string) runner {
	return func(ctx context.Context, e *env, opts *options) error {
		c, done, err := openClient(ctx, e, opts)
		if err != nil {
			return err
		}
		defer done()
		change := c.PauseQueue
		if action == "resumed" {
			change = c.ResumeQueue
		}
		if err := change(ctx, opts.operand); err != nil {
			return err
		}
		return render(e, opts, &controlResult{Action: action, Queue: &opts.operand})
	}
}

// controlResult is what snooze, cancel, pause and resume print.
type controlResult struct {
	Action  string  `json:"action"`
	JobID   int64   `json:"job_id,omitempty"`
	Queue   *string `json:"queue,omitempty"`
	For     string  `json:"for,omitempty"`
	Running bool    `json:"running,omitempty"`
}

// printText says what was done.
func (res *controlResult) printText(w io.Writer) error {
	var err error
	switch {
	case res.Queue != nil:
		_, err = fmt.Fprintf(w, "queue %s %s\n", queueLabel(*res.Queue), res.Action)
	case res.For != "":
		_, err = fmt.Fprintf(w, "job %d snoozed for %s\n", res.JobID, res.For)
	default:
		_, err = fmt.Fprintf(w, "job %d %s\n", res.JobID, res.Action)
	}
	return err
}
