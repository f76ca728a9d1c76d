package qg

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// md5Hex is the hex MD5 of s, as PostgreSQL's md5() gives it.
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestHugeErrorMessage records a 5 MB message with Job.Error and
// through a Worker: it is stored whole.
func TestHugeErrorMessage(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	line := "RuntimeError: a long line of error text ✓ 日本語\n"
	msg := strings.Repeat(line, 5<<20/len(line)+1)
	check := func(id int64) {
		t.Helper()
		var n int
		var sum string
		var count int32
		if err := testDB.QueryRow(`SELECT octet_length(last_error), md5(last_error), error_count FROM que_jobs WHERE job_id = $1`,
			id).Scan(&n, &sum, &count); err != nil {
			t.Fatal(err)
		}
		if n != len(msg) || sum != md5Hex(msg) || count != 1 {
			t.Fatalf("job %d: last_error %d bytes (md5 %s), error_count %d; want %d bytes (md5 %s), 1",
				id, n, sum, count, len(msg), md5Hex(msg))
		}
	}
	id := enqueue(t, c, &Job{Queue: q, Type: "Huge"}).ID
	j := mustLock(t, c, q)
	err := j.Error(msg)
	j.Done()
	if err != nil {
		t.Fatalf("Error with %d bytes: %v", len(msg), err)
	}
	if j.LastError.String != msg || j.ErrorCount != 1 {
		t.Fatalf("Job.LastError %d bytes, ErrorCount %d", len(j.LastError.String), j.ErrorCount)
	}
	check(id)

	id = mustRawInsert(t, q+"_w", "Huge", `[]`)
	if !testWorker(c, q+"_w", WorkMap{"Huge": func(*Job) error { return errors.New(msg) }}).WorkOne() {
		t.Fatal("nothing worked")
	}
	check(id)
}

// TestDirtyErrorMessage records a message with invalid UTF-8 and a
// NUL byte, which a text column cannot hold: Job.Error succeeds and stores it
// with those bytes replaced.
func TestDirtyErrorMessage(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	msg := "bad \xff\xfe bytes, a nul \x00 here, ✓ kept, cut \xe2\x9c and \x80end"
	want := cleanText(msg)
	if !utf8.ValidString(want) || strings.ContainsRune(want, 0) ||
		!strings.HasPrefix(want, "bad \uFFFD") || !strings.Contains(want, "a nul \uFFFD here, ✓ kept, cut \uFFFD and \uFFFDend") {
		t.Fatalf("cleanText(%q) = %q", msg, want)
	}
	id := enqueue(t, c, &Job{Queue: q, Type: "Dirty"}).ID
	j := mustLock(t, c, q)
	err := j.Error(msg)
	j.Done()
	if err != nil {
		t.Fatalf("Error: %v", err)
	}
	if j.LastError.String != want || !j.LastError.Valid {
		t.Fatalf("Job.LastError = %q, want %q", j.LastError.String, want)
	}
	assertErrored(t, id, `[]`, want)
	if st := goldenRead(t, id); st.LastError.String != want {
		t.Fatalf("last_error = %q, want %q", st.LastError.String, want)
	}

	id = mustRawInsert(t, q+"_w", "Dirty", `[]`)
	if !testWorker(c, q+"_w", WorkMap{"Dirty": func(*Job) error { return errors.New(msg) }}).WorkOne() {
		t.Fatal("nothing worked")
	}
	if st := goldenRead(t, id); st.LastError.String != want || st.ErrorCount != 1 {
		t.Fatalf("via Worker: last_error = %q, error_count %d", st.LastError.String, st.ErrorCount)
	}
}

func TestMaxErrorsAndCustomBackoff(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "Flaky"})
	w := newTestWorker(c, q, WorkMap{"Flaky": func(*Job) error { return errors.New("flaky") }})
	w.MaxErrors = 2
	w.Backoff = func(n int) time.Duration { return time.Duration(n) * time.Minute }
	w.WorkOne()
	count, _, delay, _ := jobRow(t, j.ID)
	if count != 1 || delay < 55 || delay > 61 {
		t.Fatalf("first failure: count %d delay %.0f, want 60 s", count, delay)
	}
	if _, err := testDB.Exec(`UPDATE que_jobs SET run_at = now() WHERE job_id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	w.WorkOne()
	if n := countJobs(t, DeadQueue(q)); n != 1 {
		t.Fatalf("%d jobs in the dead queue after reaching MaxErrors", n)
	}
}

func TestBackoff(t *testing.T) {
	want := map[int]time.Duration{0: 4 * time.Second, 1: 4 * time.Second, 2: 19 * time.Second,
		3: 84 * time.Second, 4: 259 * time.Second, 25: 390628 * time.Second,
		41: MaxBackoff, 1742: MaxBackoff, 1 << 40: MaxBackoff}
	for n, d := range want {
		if got := Backoff(n); got != d {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, d)
		}
	}
}

func TestErrorBackoffOnTheRow(t *testing.T) {
	c, q := setup(t)
	j := enqueue(t, c, &Job{Queue: q, Type: "x"})
	for i, want := range []float64{4, 19, 84} {
		// Make the job runnable again, as if its backoff had passed.
		if _, err := testDB.Exec(`UPDATE que_jobs SET run_at = now() - interval '1 second' WHERE job_id = $1`, j.ID); err != nil {
			t.Fatal(err)
		}
		l := mustLock(t, c, q)
		if err := l.Error("boom"); err != nil {
			t.Fatal(err)
		}
		l.Done()
		count, msg, delay, _ := jobRow(t, j.ID)
		if count != i+1 || msg != "boom" || delay < want-2 || delay > want+1 {
			t.Fatalf("failure %d: count %d msg %q delay %.1f, want delay %v", i+1, count, msg, delay, want)
		}
	}
	// A job that failed very often still records its error (capped delay).
	if _, err := testDB.Exec(`UPDATE que_jobs SET run_at = now() - interval '1 second', error_count = 5000 WHERE job_id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	l := mustLock(t, c, q)
	if err := l.Error("again"); err != nil {
		t.Fatal(err)
	}
	l.Done()
	if count, _, delay, _ := jobRow(t, j.ID); count != 5001 || delay < MaxBackoff.Seconds()-5 {
		t.Fatalf("count %d delay %.0f", count, delay)
	}
}

// A WorkFunc that records an error inside its transaction and then fails:
// the rollback undoes that error, and the Worker's own failure must still be
// recorded on the row, with the backoff of a first failure.
func TestErrorInRolledBackTxStillRecordsFailure(t *testing.T) {
	c, q := setup(t)
	failing := enqueue(t, c, &Job{Queue: q, Type: "ErrorsThenFails", Priority: 1})
	aborted := enqueue(t, c, &Job{Queue: q, Type: "ErrorsThenAborts", Priority: 2})
	w := newTestWorker(c, q, WorkMap{
		"ErrorsThenFails": func(j *Job) error {
			if err := j.Error("inner"); err != nil {
				return err
			}
			return errors.New("outer")
		},
		// The commit rolls back: the error recorded inside is undone too.
		"ErrorsThenAborts": func(j *Job) error {
			if err := j.Error("inner"); err != nil {
				return err
			}
			_, _ = j.Tx().Exec(`SELECT 1/0`)
			return nil
		},
	})
	w.WorkOne()
	w.WorkOne()
	for _, j := range []*Job{failing, aborted} {
		count, msg, delay, found := jobRow(t, j.ID)
		if !found || count != 1 || msg == "inner" || delay < 2 || delay > 6 {
			t.Errorf("%s: found %v count %d delay %.1f msg %q", j.Type, found, count, delay, msg)
		}
	}
	if _, msg, _, _ := jobRow(t, aborted.ID); !strings.Contains(msg, "aborted") {
		t.Errorf("ErrorsThenAborts: last error %q, want the aborted commit", msg)
	}
}
