package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxSnooze is the longest snooze an action takes: longer is a typo, or a
// job that should be deleted.
const maxSnooze = 366 * 24 * time.Hour

// snoozeOne puts a job off by the posted duration ("for": a Go duration,
// or a number of days as "3d"), leaving its error count alone.
func (h *Handler) snoozeOne(ctx context.Context, r *http.Request) (string, string, error) {
	id, err := pathID(r)
	if err != nil {
		return "", "/jobs", err
	}
	back := "/jobs/" + strconv.FormatInt(id, 10)
	d, err := snoozeFor(r.PostFormValue("for"))
	if err != nil {
		return "", back, err
	}
	if err := h.c.SnoozeJob(ctx, id, d); err != nil {
		return "", back, err
	}
	return fmt.Sprintf("job %d snoozed: it runs in %s", id, age(d)), back, nil
}

// snoozeFor reads a snooze's duration: positive, at most maxSnooze.
func snoozeFor(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 || d > maxSnooze {
		return 0, fmt.Errorf("%w: snooze for %q: want a duration from 1s to 366d (5m, 1h, 3d)", errBadAction, s)
	}
	return d, nil
}

// cancelOne cancels a job: a queued one never runs (Que 0.x: removed; 2.x:
// expired), a running one is asked to stop through qg's cancel mechanism.
// It is the one action that reaches a job a worker holds.
func (h *Handler) cancelOne(ctx context.Context, r *http.Request) (string, string, error) {
	id, err := pathID(r)
	if err != nil {
		return "", "/jobs", err
	}
	back := "/jobs/" + strconv.FormatInt(id, 10)
	running, err := h.c.CancelJob(ctx, id)
	switch {
	case err != nil:
		return "", back, err
	case running:
		return fmt.Sprintf("job %d: cancel requested; the qg worker holding it stops it within about a second and removes it (a Ruby worker finishes it)", id), back, nil
	case que2(h.c):
		return fmt.Sprintf("job %d cancelled: it is expired and never runs", id), back, nil
	}
	return fmt.Sprintf("job %d cancelled: it is removed and never runs", id), "/jobs", nil
}

// pauseQueue pauses the posted queue for qg's workers in every process.
func (h *Handler) pauseQueue(ctx context.Context, r *http.Request) (string, string, error) {
	q, err := postedQueue(r)
	if err != nil {
		return "", "/", err
	}
	if err := h.c.PauseQueue(ctx, q); err != nil {
		return "", "/", err
	}
	return fmt.Sprintf("queue %s paused: qg's workers take none of its jobs until it is resumed (Ruby workers go on)", queueLabel(q)), "/", nil
}

// resumeQueue ends the pause of the posted queue.
func (h *Handler) resumeQueue(ctx context.Context, r *http.Request) (string, string, error) {
	q, err := postedQueue(r)
	if err != nil {
		return "", "/", err
	}
	if err := h.c.ResumeQueue(ctx, q); err != nil {
		return "", "/", err
	}
	return fmt.Sprintf("queue %s resumed", queueLabel(q)), "/", nil
}

// postedQueue is the form's queue; "" is the default queue of a Que 0.x
// table, so the field must be there, empty or not.
func postedQueue(r *http.Request) (string, error) {
	if err := r.ParseForm(); err != nil {
		return "", fmt.Errorf("%w: %v", errBadAction, err)
	}
	qs, ok := r.PostForm["queue"]
	if !ok || len(qs) != 1 {
		return "", fmt.Errorf("%w: no queue", errBadAction)
	}
	return qs[0], nil
}

// queueLabel names a queue in a message.
func queueLabel(q string) string {
	if q == "" {
		return "(default)"
	}
	return strconv.Quote(q)
}
