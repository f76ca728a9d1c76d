package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qg-go/qg"
)

// TestRetrySharedID gives three failed rows one job_id, as another producer
// can (Que 0.x's key is the whole primary key): retry --id cannot say which
// job it names, so it retries none, says why and exits 1; --queue then
// retries each of them once and reports each once.
func TestRetrySharedID(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	id := addJob(t, qg.DeadQueue(q), "Shared", 1, "e", time.Hour)
	for i := range 2 {
		if _, err := testDB.Exec(`INSERT INTO que_jobs (queue, priority, run_at, job_id, job_class, error_count, last_error)
VALUES ($1, $2, now() + interval '1 hour', $3, 'Shared', 1, 'e')`, qg.DeadQueue(q), 50+i, id); err != nil {
			t.Fatal(err)
		}
	}
	r := qgRun(t, "retry", "--json", "--id", strconv.FormatInt(id, 10))
	r.want(t, exitRuntime, "3 rows share job_id "+strconv.FormatInt(id, 10))
	var moved int
	if err := testDB.QueryRow(`SELECT count(*) FROM que_jobs WHERE job_id = $1 AND queue = $2`, id, q).Scan(&moved); err != nil {
		t.Fatal(err)
	}
	if moved != 0 {
		t.Errorf("retry --id moved %d of the rows sharing job_id %d", moved, id)
	}
	r = qgRun(t, "retry", "--json", "--queue", q)
	r.want(t, exitOK)
	got := parseRetry(t, r)
	if got.Retried != 3 || got.Skipped != 0 || len(got.Jobs) != 3 {
		t.Errorf("retry --queue over 3 rows sharing an id = %+v", got)
	}
}

// TestPruneZeroRetention: a retention of zero (in any spelling) would
// delete the whole archive; the flag wants a positive duration.
func TestPruneZeroRetention(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"0", "0s", "-0d", "0d", "+0h", "-1s"} {
		r := qgEnv(t, map[string]string{"DATABASE_URL": unreachableURL}, "prune", "--older-than", d)
		r.want(t, exitUsage, "want a positive duration")
	}
}

// TestEnqueueControlCharacters enqueues a job whose class and queue hold
// terminal control sequences: the text output shows them escaped, never
// raw; the row keeps them exactly.
func TestEnqueueControlCharacters(t *testing.T) {
	t.Parallel()
	q := testQueue(t) + "\x1b[2J\r"
	class := "Evil\x1b]0;owned\x07\u202e"
	r := qgRun(t, "enqueue", "--type", class, "--queue", q)
	r.want(t, exitOK)
	for _, raw := range []string{"\x1b", "\x07", "\r", "\u202e"} {
		if strings.Contains(r.stdout, raw) {
			t.Errorf("enqueue printed %q raw: %q", raw, r.stdout)
		}
	}
	m := enqueuedRe.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("enqueue says %q", r.stdout)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	if j := getJob(t, id); j.Queue != q || j.JobClass != class {
		t.Errorf("stored %+v", j)
	}
}

// TestEnqueueRunAtZeroTime: 0001-01-01T00:00:00Z is the zero time.Time,
// which the library reads as "now"; the command must not turn a time the
// user typed into now without a word.
func TestEnqueueRunAtZeroTime(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"0001-01-01T00:00:00Z", "0001-01-01T01:00:00+01:00"} {
		r := qgEnv(t, map[string]string{"DATABASE_URL": unreachableURL}, "enqueue", "--type", "X", "--run-at", at)
		r.want(t, exitUsage, "--run-at")
	}
}

// TestEnqueueBadText: NUL and invalid UTF-8 in the class or queue are the
// user's mistake, said as such before connecting.
func TestEnqueueBadText(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--type", "A\x00B"},
		{"--type", "A\xffB"},
		{"--type", "A", "--queue", "q\x00"},
		{"--type", "A", "--queue", "q\xc3"},
	} {
		r := qgEnv(t, map[string]string{"DATABASE_URL": unreachableURL}, append([]string{"enqueue"}, args...)...)
		r.want(t, exitUsage)
	}
}
