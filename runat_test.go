package qg

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRunAtExtremes: a job due in year 1 is locked, one due in 9999
// is not, whether Enqueue or raw SQL wrote them; a year-1 job can be
// finished and failed (its run_at is part of the key).
func TestRunAtExtremes(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	past := time.Date(1, time.March, 4, 5, 6, 7, 0, time.UTC)
	future := time.Date(9999, time.December, 31, 23, 59, 59, 0, time.UTC)
	for _, r := range []struct {
		queue string
		at    time.Time
	}{{q, past}, {q, future}, {q + "_err", past}} {
		enqueue(t, c, &Job{Queue: r.queue, Type: "api", RunAt: r.at})
		if _, err := testDB.Exec(`INSERT INTO que_jobs (queue, run_at, job_class) VALUES ($1, $2::text::timestamptz, 'raw')`,
			r.queue, r.at.Format("2006-01-02 15:04:05-07")); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for {
		j, err := c.LockJob(q)
		if err != nil {
			t.Fatal(err)
		}
		if j == nil {
			break
		}
		got = append(got, j.Type)
		if !j.RunAt.Equal(past) {
			j.Done()
			t.Fatalf("locked job due at %v", j.RunAt)
		}
		if err := j.Delete(); err != nil {
			t.Fatal(err)
		}
		j.Done()
	}
	if strings.Join(got, ",") != "api,raw" {
		t.Fatalf("locked %v, want the two year-1 jobs", got)
	}
	var farRows int
	if err := testDB.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = $1 AND run_at = $2`, q, future).Scan(&farRows); err != nil {
		t.Fatal(err)
	}
	if farRows != 2 || countJobs(t, q) != 2 {
		t.Fatalf("%d year-9999 rows of %d, want 2 of 2", farRows, countJobs(t, q))
	}
	for range 2 {
		j := mustLock(t, c, q+"_err")
		err := j.Error("failed in year 1")
		j.Done()
		if err != nil {
			t.Fatal(err)
		}
		assertErrored(t, j.ID, `[]`, "failed in year 1")
	}
}

// TestRunAtInfinity: run_at 'infinity' and '-infinity' are legal in
// the timestamptz column, so another producer can write them. The first must
// never run; the second must not block the queue: the other jobs of the queue
// are still worked, and the row itself is not lost.
func TestRunAtInfinity(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	// Other tests' Stats read every queue: cleanQueues takes the rows away.
	for _, at := range []string{"infinity", "-infinity"} {
		if _, err := testDB.Exec(`INSERT INTO que_jobs (queue, run_at, job_class) VALUES ($1, $2::timestamptz, $2)`, q, at); err != nil {
			t.Fatal(err)
		}
	}
	normal := enqueue(t, c, &Job{Queue: q, Type: "normal"})
	if _, err := c.Stats(); err != nil {
		t.Errorf("Stats fails while a row has an infinite run_at: %v", err)
	}
	ran := map[string]int{}
	w := testWorker(c, q, WorkMap{
		"normal":    func(*Job) error { ran["normal"]++; return nil },
		"infinity":  func(*Job) error { ran["infinity"]++; return nil },
		"-infinity": func(*Job) error { ran["-infinity"]++; return errors.New("kept for inspection") },
	})
	for range 5 {
		if w.WorkOne() && ran["normal"] > 0 {
			break
		}
	}
	var lockErr error
	if ran["normal"] == 0 {
		_, lockErr = c.LockJob(q)
	}
	if st := goldenRead(t, normal.ID); st.Found || ran["normal"] != 1 {
		t.Fatalf("a job due now behind a '-infinity' row was not worked (ran %v); LockJob says: %v", ran, lockErr)
	}
	if ran["infinity"] != 0 {
		t.Fatal("a job due at 'infinity' ran")
	}
	var n int
	if err := testDB.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = $1 AND job_class LIKE '%infinity'`, q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d of the 2 infinite rows left", n)
	}
}
