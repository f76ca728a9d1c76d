package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qg-go/qg"
)

// retryJSON is what retry --json prints, as a script reads it.
type retryJSON struct {
	Retried int `json:"retried"`
	Skipped int `json:"skipped"`
	Jobs    []struct {
		JobID      int64   `json:"job_id"`
		JobClass   string  `json:"job_class"`
		FromQueue  string  `json:"from_queue"`
		Queue      string  `json:"queue"`
		ErrorCount int     `json:"error_count"`
		LastError  *string `json:"last_error"`
		Result     string  `json:"result"`
	} `json:"jobs"`
}

// parseRetry reads retry --json's output.
func parseRetry(t *testing.T, r result) retryJSON {
	t.Helper()
	var got retryJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v in %q (stderr %q)", err, r.stdout, r.stderr)
	}
	return got
}

// assertRetried checks that job id, which was before, is in queue, due now,
// with its error count and last error kept.
func assertRetried(t *testing.T, id int64, before jobRow, queue string) {
	t.Helper()
	j := getJob(t, id)
	if j.Queue != queue || j.ErrorCount != before.ErrorCount || j.LastError != before.LastError ||
		j.JobClass != before.JobClass || j.Priority != before.Priority {
		t.Errorf("job %d after retry: %+v; before: %+v; want queue %q", id, j, before, queue)
	}
	if now := serverNow(t); j.RunAt.After(now) || now.Sub(j.RunAt) > time.Minute {
		t.Errorf("job %d runs at %v, want now (%v)", id, j.RunAt, now)
	}
}

// assertUnchanged checks that job id is exactly as before.
func assertUnchanged(t *testing.T, id int64, before jobRow) {
	t.Helper()
	if j := getJob(t, id); j != before {
		t.Errorf("job %d changed: %+v, was %+v", id, j, before)
	}
}

// lockable checks that a worker can take job id from queue now.
func lockable(t *testing.T, queue string, id int64) {
	t.Helper()
	c, err := qg.NewClient2(testDB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	j, err := c.LockJobContext(context.Background(), queue)
	if err != nil || j == nil {
		t.Fatalf("lock a job of %s: %v, %v", queue, j, err)
	}
	defer j.Done()
	if j.ID != id {
		t.Errorf("locked job %d, want %d", j.ID, id)
	}
}

func TestRetryDeadJob(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	id := addJob(t, qg.DeadQueue(q), "ChargeCard", 5, "card declined\nstack...", 24*time.Hour)
	before := getJob(t, id)
	r := qgRun(t, "retry", "--id", strconv.FormatInt(id, 10))
	r.want(t, exitOK)
	row := regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+ChargeCard\s+qg:dead:%s\s+%s\s+5\s+card declined …\s+retried$`, id, q, q))
	if !row.MatchString(r.stdout) || !strings.Contains(r.stdout, "Retried 1 job.") {
		t.Errorf("retry says:\n%s", r.stdout)
	}
	assertRetried(t, id, before, q)
	lockable(t, q, id)
	assertUnlocked(t, id)
}

func TestRetryDeadJobJSON(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	id := addJob(t, qg.DeadQueue(q), "ChargeCard", 2, "boom", time.Hour)
	before := getJob(t, id)
	r := qgRun(t, "retry", "--json", "--id", strconv.FormatInt(id, 10))
	r.want(t, exitOK)
	got := parseRetry(t, r)
	if got.Retried != 1 || got.Skipped != 0 || len(got.Jobs) != 1 {
		t.Fatalf("retry --json = %+v", got)
	}
	j := got.Jobs[0]
	if j.JobID != id || j.FromQueue != qg.DeadQueue(q) || j.Queue != q || j.ErrorCount != 2 ||
		j.LastError == nil || *j.LastError != "boom" || j.Result != "retried" {
		t.Errorf("retry --json job = %+v", j)
	}
	assertRetried(t, id, before, q)
}

// TestRetryLockedJob holds a dead job's lock, as a worker would: retry must
// leave the job as it is, say so and exit 1.
func TestRetryLockedJob(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	id := addJob(t, qg.DeadQueue(q), "ChargeCard", 5, "boom", time.Hour)
	before := getJob(t, id)
	holdLock(t, id)
	r := qgRun(t, "retry", "--id", strconv.FormatInt(id, 10))
	r.want(t, exitRuntime, "1 job not retried", "being worked")
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s.*\slocked$`, id)).MatchString(r.stdout) {
		t.Errorf("retry does not report job %d as locked:\n%s", id, r.stdout)
	}
	assertUnchanged(t, id, before)

	r = qgRun(t, "retry", "--json", "--id", strconv.FormatInt(id, 10))
	r.want(t, exitRuntime, "being worked")
	if got := parseRetry(t, r); got.Retried != 0 || got.Skipped != 1 || got.Jobs[0].Result != "locked" {
		t.Errorf("retry --json = %+v", got)
	}
	assertUnchanged(t, id, before)
}

// TestRetryDeadQueue retries a whole dead queue, one of whose jobs is
// locked: the others move, the locked one stays as it was.
func TestRetryDeadQueue(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	ids := []int64{
		addJob(t, qg.DeadQueue(q), "A", 3, "a failed", time.Hour),
		addJob(t, qg.DeadQueue(q), "B", 1, "b failed", -time.Hour),
		addJob(t, qg.DeadQueue(q), "C", 7, "c failed", time.Hour),
	}
	other := addJob(t, qg.DeadQueue(q+"_other"), "D", 1, "d failed", time.Hour)
	befores := []jobRow{getJob(t, ids[0]), getJob(t, ids[1]), getJob(t, ids[2])}
	beforeOther := getJob(t, other)
	holdLock(t, ids[1])

	r := qgRun(t, "retry", "--json", "--queue", q)
	r.want(t, exitRuntime, "1 job not retried")
	got := parseRetry(t, r)
	if got.Retried != 2 || got.Skipped != 1 || len(got.Jobs) != 3 {
		t.Fatalf("retry --json = %+v", got)
	}
	for i, want := range []string{"retried", "locked", "retried"} {
		if got.Jobs[i].JobID != ids[i] || got.Jobs[i].Result != want {
			t.Errorf("job %d: %+v, want %s", ids[i], got.Jobs[i], want)
		}
	}
	assertRetried(t, ids[0], befores[0], q)
	assertUnchanged(t, ids[1], befores[1])
	assertRetried(t, ids[2], befores[2], q)
	assertUnchanged(t, other, beforeOther)
}

// TestRetryDeadQueueBatches retries more jobs than one statement takes.
func TestRetryDeadQueueBatches(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	n := 2*retryBatch + 7
	if _, err := testDB.Exec(`INSERT INTO que_jobs (queue, job_class, error_count, run_at)
SELECT $1, 'Bulk', 1, now() + interval '1 hour' FROM generate_series(1, $2)`, qg.DeadQueue(q), n); err != nil {
		t.Fatal(err)
	}
	r := qgRun(t, "retry", "--queue", qg.DeadQueue(q)) // the dead queue's own name works too
	r.want(t, exitOK)
	if want := fmt.Sprintf("Retried %d jobs.", n); !strings.Contains(r.stdout, want) {
		t.Errorf("retry does not say %q:\n%s", want, r.stdout[max(0, len(r.stdout)-300):])
	}
	var left, moved int
	if err := testDB.QueryRow(`SELECT count(*) FILTER (WHERE queue = $1), count(*) FILTER (WHERE queue = $2 AND run_at <= now())
FROM que_jobs WHERE queue IN ($1, $2)`, qg.DeadQueue(q), q).Scan(&left, &moved); err != nil {
		t.Fatal(err)
	}
	if left != 0 || moved != n {
		t.Errorf("%d jobs left in the dead queue, %d moved; want 0, %d", left, moved, n)
	}
}

func TestRetryEmptyDeadQueue(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	r := qgRun(t, "retry", "--queue", q)
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, "Nothing to retry in queue qg:dead:"+q) {
		t.Errorf("retry says %q", r.stdout)
	}
	r = qgRun(t, "retry", "--json", "--queue", q)
	r.want(t, exitOK)
	if got := parseRetry(t, r); got.Retried != 0 || got.Skipped != 0 || got.Jobs == nil {
		t.Errorf("retry --json = %+v from %s", got, r.stdout)
	}
}

// TestRetryFailingJob retries a job that failed and waits for its next try.
func TestRetryFailingJob(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	id := addJob(t, q, "Sync", 4, "timeout", 2*time.Hour)
	before := getJob(t, id)
	r := qgRun(t, "retry", "--id", strconv.FormatInt(id, 10))
	r.want(t, exitOK)
	assertRetried(t, id, before, q)
	lockable(t, q, id)
}

// TestRetryFailingQueue retries the failing jobs of a live queue, and
// leaves the others alone.
func TestRetryFailingQueue(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	failing := []int64{addJob(t, q, "Sync", 1, "e1", time.Hour), addJob(t, q, "Sync", 9, "e9", 3*time.Hour)}
	befores := []jobRow{getJob(t, failing[0]), getJob(t, failing[1])}
	scheduled := addJob(t, q, "Sync", 0, "", time.Hour)
	beforeScheduled := getJob(t, scheduled)
	r := qgRun(t, "retry", "--json", "--queue", q, "--failing")
	r.want(t, exitOK)
	if got := parseRetry(t, r); got.Retried != 2 || got.Skipped != 0 {
		t.Errorf("retry --json = %+v", got)
	}
	assertRetried(t, failing[0], befores[0], q)
	assertRetried(t, failing[1], befores[1], q)
	assertUnchanged(t, scheduled, beforeScheduled)
}

func TestRetryNotFound(t *testing.T) {
	t.Parallel()
	r := qgRun(t, "retry", "--id", "9123456789")
	r.want(t, exitRuntime, "job 9123456789 not found")
	if r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestRetryNotFailed(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	id := addJob(t, q, "Fine", 0, "", time.Hour)
	before := getJob(t, id)
	r := qgRun(t, "retry", "--json", "--id", strconv.FormatInt(id, 10))
	r.want(t, exitRuntime, "has not failed and is not given up")
	assertUnchanged(t, id, before)
}
