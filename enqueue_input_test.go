package qg

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestEnqueueMissingType: an empty Type is ErrMissingType, unwrapped, on
// every enqueue path, before any SQL. A raw row with an empty job_class (the
// column allows it) is an unknown-type error of that job.
func TestEnqueueMissingType(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	tx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, args := range []string{``, `[1]`, `not json`} {
		j := &Job{Queue: q, Args: []byte(args)}
		if err := c.Enqueue(j); err != ErrMissingType {
			t.Fatalf("Enqueue: %v, want ErrMissingType", err)
		}
		if err := c.EnqueueContext(context.Background(), j); err != ErrMissingType {
			t.Fatalf("EnqueueContext: %v, want ErrMissingType", err)
		}
		if err := c.EnqueueInTx(j, tx); err != ErrMissingType {
			t.Fatalf("EnqueueInTx (finished tx, so no SQL ran): %v, want ErrMissingType", err)
		}
		if j.ID != 0 {
			t.Fatalf("job got id %d", j.ID)
		}
	}
	if n := countJobs(t, q); n != 0 {
		t.Fatalf("%d rows written", n)
	}
	if _, err := testDB.Exec(`INSERT INTO que_jobs (queue, job_class) VALUES ($1, NULL)`, q); err == nil {
		t.Fatal("PostgreSQL stored a NULL job_class")
	}
	id := mustRawInsert(t, q, "", `[1]`)
	if !testWorker(c, q, WorkMap{"Other": func(*Job) error { return nil }}).WorkOne() {
		t.Fatal("nothing worked")
	}
	assertErrored(t, id, `[1]`, "unknown")
}

// TestLongAndUnknownJobClass: a 100 KB job_class and an unknown one,
// written by raw SQL, are job errors naming the type; a 100 KB type that the
// WorkMap knows is worked.
func TestLongAndUnknownJobClass(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	long := "Deeply::" + strings.Repeat("Nested::", 100<<10/8) + "Job"
	ran := 0
	m := WorkMap{"Known": func(*Job) error { ran++; return nil }}
	for i, class := range []string{long, "Nope::Missing", "send_email", "known"} {
		queue := fmt.Sprintf("%s_%d", q, i)
		id := mustRawInsert(t, queue, class, `[1]`)
		if !testWorker(c, queue, m).WorkOne() {
			t.Fatalf("%.40s: nothing worked", class)
		}
		assertErrored(t, id, `[1]`, class)
	}
	if ran != 0 {
		t.Fatalf("Known ran %d times", ran)
	}
	m[long] = func(j *Job) error { ran++; return nil }
	enqueue(t, c, &Job{Queue: q, Type: long, Args: []byte(`[2]`)})
	mustRawInsert(t, q, long, `[3]`)
	w := testWorker(c, q, m)
	for range 2 {
		if !w.WorkOne() {
			t.Fatal("nothing worked")
		}
	}
	if ran != 2 || countJobs(t, q) != 0 {
		t.Fatalf("long type: ran %d times, %d rows left", ran, countJobs(t, q))
	}
}

// TestQueueNameSpacesAndUnicode works jobs of a queue whose name has
// spaces, unicode and a line separator, written by Enqueue and by raw SQL.
func TestQueueNameSpacesAndUnicode(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	queue := q + " with  spaces ✓ 日本語 🎉 \u2028 end "
	enqueue(t, c, &Job{Queue: queue, Type: "Q", Args: []byte(`["api"]`)})
	mustRawInsert(t, queue, "Q", `["sql"]`)
	if j, err := c.LockJob(strings.TrimSpace(queue)); err != nil || j != nil {
		t.Fatalf("a trimmed queue name matched: %v, %v", j, err)
	}
	stats, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range stats {
		if s.Queue == queue && s.Type == "Q" && s.Count == 2 {
			found = true
		}
	}
	if !found {
		t.Fatalf("Stats lacks queue %q: %+v", queue, stats)
	}
	var got []string
	w := testWorker(c, queue, WorkMap{"Q": func(j *Job) error {
		if j.Queue != queue {
			return fmt.Errorf("job queue %q", j.Queue)
		}
		var s string
		if err := j.DecodeArgs(&s); err != nil {
			return err
		}
		got = append(got, s)
		return nil
	}})
	for range 2 {
		if !w.WorkOne() {
			t.Fatal("nothing worked")
		}
	}
	if strings.Join(got, ",") != "api,sql" || countJobs(t, queue) != 0 {
		t.Fatalf("worked %v, %d rows left", got, countJobs(t, queue))
	}
}

// TestPriorityLimits locks jobs at smallint's limits, written by
// Enqueue and by raw SQL, in priority order. Enqueue's Priority 0 means 100.
func TestPriorityLimits(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	runAt := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	for _, j := range []*Job{
		{Type: "api_max", Priority: 32767},
		{Type: "api_min", Priority: -32768},
		{Type: "api_zero", Priority: 0},
	} {
		j.Queue, j.RunAt = q, runAt
		enqueue(t, c, j)
		if j.Type == "api_zero" && j.Priority != 100 {
			t.Fatalf("Priority 0 stored as %d, want 100", j.Priority)
		}
	}
	for _, r := range []struct {
		class    string
		priority int
	}{{"raw_min", -32768}, {"raw_max", 32767}, {"raw_zero", 0}, {"raw_100", 100}} {
		_, err := testDB.Exec(`INSERT INTO que_jobs (queue, priority, run_at, job_class) VALUES ($1, $2, $3, $4)`,
			q, r.priority, runAt, r.class)
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []int{32768, -32769} {
		_, err := testDB.Exec(`INSERT INTO que_jobs (queue, priority, job_class) VALUES ($1, $2::int, 'x')`, q, p)
		if err == nil || !strings.Contains(err.Error(), "smallint out of range") {
			t.Fatalf("priority %d: %v, want smallint out of range", p, err)
		}
	}
	var order []string
	for {
		j, err := c.LockJob(q)
		if err != nil {
			t.Fatal(err)
		}
		if j == nil {
			break
		}
		order = append(order, fmt.Sprintf("%s:%d", j.Type, j.Priority))
		if err := j.Delete(); err != nil {
			t.Fatal(err)
		}
		j.Done()
	}
	want := "api_min:-32768 raw_min:-32768 raw_zero:0 api_zero:100 raw_100:100 api_max:32767 raw_max:32767"
	if strings.Join(order, " ") != want {
		t.Fatalf("locked in order\n%s\nwant\n%s", strings.Join(order, " "), want)
	}
}
