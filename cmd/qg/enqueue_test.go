package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var enqueuedRe = regexp.MustCompile(`^enqueued job (\d+): `)

func TestEnqueue(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	before := serverNow(t)
	r := qgRun(t, "enqueue", "--type", "Billing::ChargeCard", "--args", `[1, "two", {"k": 3}]`,
		"--queue", q, "--priority", "10")
	r.want(t, exitOK)
	m := enqueuedRe.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("enqueue says %q", r.stdout)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	j := getJob(t, id)
	if j.Queue != q || j.Priority != 10 || j.JobClass != "Billing::ChargeCard" || j.Args != `[1, "two", {"k": 3}]` {
		t.Errorf("stored %+v", j)
	}
	if j.RunAt.Before(before) || j.RunAt.After(serverNow(t)) {
		t.Errorf("run_at %v is not now (%v)", j.RunAt, before)
	}
}

func TestEnqueueJSON(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	before := serverNow(t)
	r := qgRun(t, "enqueue", "--json", "--type", "SendEmail", "--queue", q, "--run-at", "+5m")
	r.want(t, exitOK)
	var got struct {
		JobID    int64           `json:"job_id"`
		Queue    string          `json:"queue"`
		JobClass string          `json:"job_class"`
		Priority int16           `json:"priority"`
		RunAt    time.Time       `json:"run_at"`
		Args     json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v in %q", err, r.stdout)
	}
	j := getJob(t, got.JobID)
	if got.Queue != q || got.JobClass != "SendEmail" || got.Priority != 100 || string(got.Args) != "[]" {
		t.Errorf("enqueue --json = %+v", got)
	}
	if j.Args != "[]" || j.Priority != 100 || !j.RunAt.Equal(got.RunAt) {
		t.Errorf("stored %+v, printed %+v", j, got)
	}
	if d := j.RunAt.Sub(before); d < 5*time.Minute || d > 5*time.Minute+time.Minute {
		t.Errorf("run_at is %v after now, want 5m", d)
	}
}

func TestEnqueueRunAtTime(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	r := qgRun(t, "enqueue", "--json", "--type", "Report", "--queue", q, "--run-at", "2030-01-02T15:04:05+02:00")
	r.want(t, exitOK)
	var got enqueueResult
	if err := json.Unmarshal([]byte(r.stdout), &struct {
		JobID *int64 `json:"job_id"`
	}{&got.JobID}); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2030, 1, 2, 13, 4, 5, 0, time.UTC)
	if j := getJob(t, got.JobID); !j.RunAt.Equal(want) {
		t.Errorf("run_at %v, want %v", j.RunAt, want)
	}
}
