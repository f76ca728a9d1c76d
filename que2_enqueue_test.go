package qg

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// que2Row is a row of the Que 2.x table as text, the way the golden files
// show it.
type que2Row struct {
	Queue, JobClass, Args, Kwargs, Data string
	Priority                            int16
	JobSchemaVersion                    int
	ErrorCount                          int32
	RunAtFromNowS                       int
}

// readQue2Row reads row id of the run's Que 2.x table.
func readQue2Row(t *testing.T, id int64) que2Row {
	t.Helper()
	db, _ := que2Shared(t)
	var r que2Row
	err := db.QueryRow(`SELECT queue, job_class, args::text, kwargs::text, data::text, priority,
  job_schema_version, error_count, round(extract(epoch FROM run_at - now()))::int
FROM que_jobs WHERE id = $1`, id).Scan(&r.Queue, &r.JobClass, &r.Args, &r.Kwargs, &r.Data,
		&r.Priority, &r.JobSchemaVersion, &r.ErrorCount, &r.RunAtFromNowS)
	if err != nil {
		t.Fatalf("row %d: %v", id, err)
	}
	return r
}

// TestQue2EnqueueWritesGoldenRows enqueues from Go every row Ruby Que
// 2.4.1's enqueue wrote (enqueued.jsonl), from the same args, kwargs, tags
// and options, and compares the stored rows column by column, JSON text
// included. Tags go through Job.Tags, the other data keys through Job.Data.
func TestQue2EnqueueWritesGoldenRows(t *testing.T) {
	c, queue := setup2(t)
	n := 0
	for _, g := range readGoldenFile[goldenEnqueued2](t, golden2Dir, "enqueued.jsonl") {
		if g.EnqueueError != "" {
			continue
		}
		n++
		j := &Job{Type: g.JobClass, Args: []byte(g.Args), Kwargs: []byte(g.Kwargs), Priority: g.Priority,
			Queue: queue + "_" + g.Queue}
		j.Tags = tagsOf([]byte(g.Data))
		if j.Tags == nil {
			j.Data = []byte(g.Data)
		}
		if g.RunAtFromNowS > 0 {
			j.RunAt = que2Now(t).Add(time.Duration(g.RunAtFromNowS) * time.Second)
		}
		enqueue(t, c, j)
		got := readQue2Row(t, j.ID)
		want := que2Row{Queue: queue + "_" + g.Queue, JobClass: g.JobClass, Args: g.Args, Kwargs: g.Kwargs,
			Data: g.Data, Priority: g.Priority, JobSchemaVersion: g.JobSchemaVersion, ErrorCount: g.ErrorCount,
			RunAtFromNowS: g.RunAtFromNowS}
		if got != want {
			t.Errorf("%s:\n got  %+v\n want %+v", g.Ruby, got, want)
		}
	}
	if n < 30 {
		t.Fatalf("only %d written rows in enqueued.jsonl", n)
	}
}

// TestQue2EnqueueDefaults checks the defaults of a Go enqueue on a Que 2.x
// table against Ruby's SendEmail.enqueue (the first line of enqueued.jsonl):
// queue 'default' for "", priority 100, run_at now(), [] {} {}, version 2.
func TestQue2EnqueueDefaults(t *testing.T) {
	c, _ := setup2(t)
	g := readGoldenFile[goldenEnqueued2](t, golden2Dir, "enqueued.jsonl")[0]
	if g.Ruby != "SendEmail.enqueue" {
		t.Fatalf("enqueued.jsonl starts with %q", g.Ruby)
	}
	j := enqueue(t, c, &Job{Type: "SendEmail"})
	defer func() {
		db, _ := que2Shared(t)
		_, _ = db.Exec(`DELETE FROM que_jobs WHERE id = $1`, j.ID)
	}()
	got := readQue2Row(t, j.ID)
	want := que2Row{Queue: g.Queue, JobClass: g.JobClass, Args: g.Args, Kwargs: g.Kwargs, Data: g.Data,
		Priority: g.Priority, JobSchemaVersion: g.JobSchemaVersion, ErrorCount: g.ErrorCount}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if j.Priority != 100 || j.RunAt.IsZero() || j.ID == 0 {
		t.Errorf("the Job after enqueue: %+v", j)
	}
}

// TestQue2EnqueueRefusesWhatRubyRefuses checks the enqueues Ruby Que 2
// refuses (enqueued.jsonl's enqueue_error lines on tags) and what the table
// would: Go refuses them before any SQL, with an error saying why.
func TestQue2EnqueueRefusesWhatRubyRefuses(t *testing.T) {
	c, queue := setup2(t)
	cases := []struct {
		name string
		job  *Job
		want error
	}{
		{"6 tags", &Job{Tags: []string{"a", "b", "c", "d", "e", "f"}}, ErrInvalidTags},
		{"a tag of 101 chars", &Job{Tags: []string{strings.Repeat("x", 101)}}, ErrInvalidTags},
		// Ruby lets this one through and the table's valid_data refuses it.
		{"a tag of 100 chars", &Job{Tags: []string{strings.Repeat("x", 100)}}, ErrInvalidTags},
		{"a tag of 98 chars with a quote", &Job{Tags: []string{strings.Repeat("x", 97) + `"`}}, ErrInvalidTags},
		{"tags twice", &Job{Tags: []string{"a"}, Data: []byte(`{"tags": ["b"]}`)}, ErrInvalidTags},
		{"args an object", &Job{Args: []byte(`{"a": 1}`)}, ErrInvalidArgs},
		{"kwargs an array", &Job{Kwargs: []byte(`[1]`)}, ErrInvalidArgs},
		{"data an array", &Job{Data: []byte(`[]`)}, ErrInvalidArgs},
		{"kwargs not JSON", &Job{Kwargs: []byte(`{a: 1}`)}, ErrInvalidArgs},
	}
	for _, tc := range cases {
		j := tc.job
		j.Type, j.Queue = "SendEmail", queue
		if err := c.Enqueue(j); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The limits themselves pass: 5 tags, 98 plain characters, 97 with a
	// quote, 98 multibyte (worked.jsonl's accepted INSERT lines).
	ok := []string{strings.Repeat("x", 98), strings.Repeat("x", 96) + `"`, strings.Repeat("é", 98), "d", "e"}
	j := enqueue(t, c, &Job{Type: "SendEmail", Queue: queue, Tags: ok})
	if got := readQue2Row(t, j.ID); len(tagsOf([]byte(got.Data))) != 5 {
		t.Errorf("5 tags at the limit stored as %s", got.Data)
	}
	if n := countQue2Jobs(t, queue); n != 1 {
		t.Errorf("%d rows in the queue, want the 1 valid job", n)
	}
}

// TestQue2FieldsRefusedOnQue0 checks that Kwargs, Tags and Data, which the
// Que 0.x table cannot store, fail an enqueue there with ErrNeedsQue2.
func TestQue2FieldsRefusedOnQue0(t *testing.T) {
	c, queue := setup(t)
	for _, j := range []*Job{
		{Type: "SendEmail", Queue: queue, Kwargs: []byte(`{"a": 1}`)},
		{Type: "SendEmail", Queue: queue, Tags: []string{"a"}},
		{Type: "SendEmail", Queue: queue, Data: []byte(`{"trace_id": "x"}`)},
	} {
		if err := c.Enqueue(j); !errors.Is(err, ErrNeedsQue2) {
			t.Errorf("%+v on Que 0.x: %v, want ErrNeedsQue2", j, err)
		}
		if err := c.EnqueueBatch(context.Background(), []*Job{j}); !errors.Is(err, ErrNeedsQue2) {
			t.Errorf("batch %+v on Que 0.x: %v, want ErrNeedsQue2", j, err)
		}
	}
	if n := countJobs(t, queue); n != 0 {
		t.Errorf("%d rows written", n)
	}
}

// countQue2Jobs counts the rows of queue in the run's Que 2.x table.
func countQue2Jobs(t *testing.T, queue string) int {
	t.Helper()
	db, _ := que2Shared(t)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = $1`, queue).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// que2Now is the database server's clock.
func que2Now(t *testing.T) time.Time {
	t.Helper()
	db, _ := que2Shared(t)
	var now time.Time
	if err := db.QueryRow(`SELECT now()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	return now
}
