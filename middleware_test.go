package qg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

type ctxKey string

// TestMiddlewareWrapsWorkAndGivesOutcome checks that Middleware runs
// outermost first, that the context it passes is the job's in the WorkFunc
// and the hooks, and that work returns each run's outcome.
func TestMiddlewareWrapsWorkAndGivesOutcome(t *testing.T) {
	c, q := setup(t)
	enqueue(t, c, &Job{Queue: q, Type: "Ok", Priority: 1})
	enqueue(t, c, &Job{Queue: q, Type: "Fails", Priority: 2})
	enqueue(t, c, &Job{Queue: q, Type: "Panics", Priority: 3})
	enqueue(t, c, &Job{Queue: q, Type: "GivesUp", Priority: 4})
	var order []string
	var seen []string // the context value each WorkFunc and hook saw
	look := func(j *Job) {
		v, _ := j.Context().Value(ctxKey("outer")).(string)
		w, _ := j.Context().Value(ctxKey("inner")).(string)
		seen = append(seen, j.Type+":"+v+w)
	}
	mw := func(name string) Middleware {
		return func(ctx context.Context, j *Job, work func(context.Context) JobEvent) JobEvent {
			order = append(order, name)
			e := work(context.WithValue(ctx, ctxKey(name), name))
			e2 := work(ctx) // a second call does nothing
			if e2.Outcome != e.Outcome {
				t.Errorf("second work call gave %v, want %v", e2.Outcome, e.Outcome)
			}
			return e
		}
	}
	var events []JobEvent
	w := newTestWorker(c, q, WorkMap{
		"Ok":      func(j *Job) error { look(j); return nil },
		"Fails":   func(j *Job) error { look(j); return errors.New("no") },
		"Panics":  func(j *Job) error { look(j); panic("oh no") },
		"GivesUp": func(j *Job) error { look(j); return GiveUp(errors.New("never")) },
	})
	w.Hooks.Worked = func(e JobEvent) { look(e.Job) }
	w.Middleware = []Middleware{mw("outer"), mw("inner"),
		func(ctx context.Context, j *Job, work func(context.Context) JobEvent) JobEvent {
			e := work(ctx)
			events = append(events, e)
			return e
		}}
	for range 4 {
		if !w.WorkOne() {
			t.Fatal("no job worked")
		}
	}
	if want := "outer inner outer inner outer inner outer inner"; strings.Join(order, " ") != want {
		t.Errorf("middleware order %q, want %q", strings.Join(order, " "), want)
	}
	if want := "Ok:outerinner Ok:outerinner Fails:outerinner Panics:outerinner GivesUp:outerinner"; strings.Join(seen, " ") != want {
		t.Errorf("contexts seen %q, want %q", strings.Join(seen, " "), want)
	}
	want := []RunOutcome{RunWorked, RunFailed, RunFailed, RunGivenUp}
	for i, e := range events {
		if e.Outcome != want[i] || e.Start.IsZero() || e.Job == nil {
			t.Errorf("run %d: outcome %v start %v, want %v", i, e.Outcome, e.Start, want[i])
		}
		if (e.Err == nil) != (i == 0) {
			t.Errorf("run %d: err %v", i, e.Err)
		}
	}
	if len(events) == 4 && (events[2].Panic != "oh no" || len(events[2].Stack) == 0) {
		t.Errorf("panicked run: panic %v", events[2].Panic)
	}
}

// TestEnqueueMiddlewareSeesEachEnqueue checks that EnqueueMiddleware wraps
// single and batch enqueues once each, may change the jobs before they are
// inserted, and sees their IDs and errors after.
func TestEnqueueMiddlewareSeesEachEnqueue(t *testing.T) {
	c, q := setup(t)
	var calls []int
	var errs []error
	c.EnqueueMiddleware = []EnqueueMiddleware{func(ctx context.Context, jobs []*Job, enqueue func(context.Context) error) error {
		for _, j := range jobs {
			j.Priority = 7
		}
		err := enqueue(ctx)
		calls = append(calls, len(jobs))
		errs = append(errs, err)
		for _, j := range jobs {
			if err == nil && j.ID == 0 {
				t.Error("job has no ID after enqueue")
			}
		}
		return err
	}}
	enqueue(t, c, &Job{Queue: q, Type: "One"})
	if err := c.EnqueueBatch(context.Background(), []*Job{{Queue: q, Type: "A"}, {Queue: q, Type: "B"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue(&Job{Queue: q}); err != ErrMissingType {
		t.Fatalf("enqueue without type: %v", err)
	}
	if fmt.Sprint(calls) != "[1 2 1]" || errs[0] != nil || errs[1] != nil || errs[2] != ErrMissingType {
		t.Errorf("calls %v errors %v", calls, errs)
	}
	var n int
	if err := testDB.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = $1 AND priority = 7`, q).Scan(&n); err != nil || n != 3 {
		t.Errorf("%d jobs at priority 7 (%v), want 3", n, err)
	}
}
