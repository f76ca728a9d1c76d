package qg

import (
	"errors"
	"testing"
	"time"
)

func TestControlErrors(t *testing.T) {
	c, q := setup(t)
	in := enqueue(t, c, &Job{Queue: q, Type: "RetryIn", Priority: 1})
	at := enqueue(t, c, &Job{Queue: q, Type: "RetryAt", Priority: 2})
	gu := enqueue(t, c, &Job{Queue: q, Type: "GiveUp", Priority: 3})
	w := newTestWorker(c, q, WorkMap{
		"RetryIn": func(*Job) error { return RetryIn(time.Hour, errors.New("later")) },
		"RetryAt": func(*Job) error { return RetryAt(time.Now().Add(10*time.Minute), errors.New("at ten")) },
		"GiveUp":  func(*Job) error { return GiveUp(errors.New("hopeless")) },
	})
	var givenUp []int64
	w.Hooks.GivenUp = func(e JobEvent) { givenUp = append(givenUp, e.Job.ID) }
	for range 3 {
		w.WorkOne()
	}
	if _, msg, delay, _ := jobRow(t, in.ID); msg != "later" || delay < 3590 || delay > 3601 {
		t.Errorf("RetryIn: delay %.0f msg %q", delay, msg)
	}
	if _, _, delay, _ := jobRow(t, at.ID); delay < 590 || delay > 601 {
		t.Errorf("RetryAt: delay %.0f", delay)
	}
	var queue string
	if err := testDB.QueryRow(`SELECT queue FROM que_jobs WHERE job_id = $1`, gu.ID).Scan(&queue); err != nil {
		t.Fatalf("given-up job lost: %v", err)
	}
	if count, msg, _, _ := jobRow(t, gu.ID); queue != DeadQueue(q) || count != 1 || msg != "hopeless" {
		t.Errorf("GiveUp: queue %q count %d msg %q", queue, count, msg)
	}
	if len(givenUp) != 1 || givenUp[0] != gu.ID {
		t.Errorf("GivenUp hook saw %v", givenUp)
	}
}
