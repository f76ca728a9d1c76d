package qg

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// How a Go Worker finishes a job on the Que 2.x table, against the lines of
// testdata/ruby-que-2.4.1/failed.jsonl: the error columns, the backoff, the
// retry limit and expiry.

// que2State is what a finished run left of a row.
type que2State struct {
	Left                   bool
	ErrorCount             int32
	Message, Backtrace     sql.NullString
	Expired, Finished      bool
	RunAtMinusFailure      float64 // seconds, from the failure's statement
	ExpiredAtMinusFailureS float64
}

// readQue2State reads row id; failed is the server time just before the
// failure was recorded, so run_at minus it is the backoff.
func readQue2State(t *testing.T, id int64, failed time.Time) que2State {
	t.Helper()
	db, _ := que2Shared(t)
	var s que2State
	var runAt time.Time
	var expiredAt sql.NullTime
	err := db.QueryRow(`SELECT error_count, last_error_message, last_error_backtrace, expired_at,
  finished_at IS NOT NULL, run_at FROM que_jobs WHERE id = $1`, id).Scan(&s.ErrorCount, &s.Message,
		&s.Backtrace, &expiredAt, &s.Finished, &runAt)
	if errors.Is(err, sql.ErrNoRows) {
		return s
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Left, s.Expired = true, expiredAt.Valid
	s.RunAtMinusFailure = runAt.Sub(failed).Seconds()
	if expiredAt.Valid {
		s.ExpiredAtMinusFailureS = expiredAt.Time.Sub(failed).Seconds()
	}
	return s
}

// insertQue2Row inserts a due row of queue with the given class and
// error_count, as Ruby Que 2 would have left it, and returns its id.
func insertQue2Row(t *testing.T, queue, class string, errorCount int) int64 {
	t.Helper()
	db, _ := que2Shared(t)
	var id int64
	err := db.QueryRow(`INSERT INTO que_jobs (queue, job_class, args, error_count, job_schema_version)
VALUES ($1, $2, '["plain"]', $3, 2) RETURNING id`, queue, class, errorCount).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// makeDue moves row id's run_at to now, so the next WorkOne takes it.
func makeDue(t *testing.T, id int64) {
	t.Helper()
	db, _ := que2Shared(t)
	if _, err := db.Exec(`UPDATE que_jobs SET run_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
}

// workOnce works one job of w's queue and returns the server time just
// before; it fails the test when there was none.
func workOnce(t *testing.T, w *Worker) time.Time {
	t.Helper()
	before := que2Now(t)
	if !w.WorkOne() {
		t.Fatalf("WorkOne on %s found no job", w.Queue)
	}
	return before
}

// within reports whether got is want seconds, give or take the time the
// statements took (slack: the backoff is counted from the failing
// statement, a little after the time taken before WorkOne).
func within(got, want float64) bool {
	return got >= want-0.001 && got <= want+2
}

// failedCase is how a Go Worker reproduces a line of failed.jsonl.
type failedCase struct {
	errorCount int           // the row's error_count before the first failure
	maxErrors  int           // the Worker's MaxErrors (Que's maximum_retry_count + 1; 0 for its default 15)
	backoff    time.Duration // a fixed retry interval, or zero for Que's formula
	class      string        // the job class ("" : a registered one)
	failure    error         // what the WorkFunc returns
}

func TestQue2FailuresMatchGolden(t *testing.T) {
	c, queue := setup2(t)
	long := "RuntimeError: " + strings.Repeat("é", 600)
	cases := map[string]failedCase{
		`Billing::Refund.enqueue("plain", 99)`:                      {failure: errors.New("RuntimeError: gateway timeout")},
		`Billing::Refund.enqueue("empty")`:                          {failure: errors.New("ArgumentError: ")},
		`Billing::Refund.enqueue("multiline")`:                      {failure: errors.New("ArgumentError: line one\nline two")},
		`Billing::Refund.enqueue("long")`:                           {failure: errors.New(long)},
		`Billing::Refund.enqueue("custom")`:                         {failure: errors.New("Billing::CardDeclined: card 4242 declined")},
		`Billing::Refund.enqueue("deep")`:                           {failure: errors.New("RuntimeError: deep backtrace")},
		`Billing::RefundOnce.enqueue("x")  # maximum_retry_count 0`: {maxErrors: 1, failure: errors.New("x")},
		`Billing::RefundLimited.enqueue("x")  # maximum_retry_count 2, retry_interval 1`: {maxErrors: 3,
			backoff: time.Second, failure: errors.New("Billing::CardDeclined: still declined")},
		`raw row: job_class Billing::Refund, args ["plain"], error_count 14`: {errorCount: 14,
			failure: errors.New("RuntimeError: gateway timeout")},
		`raw row: job_class Billing::Refund, args ["plain"], error_count 15`: {errorCount: 15,
			failure: errors.New("RuntimeError: gateway timeout")},
		`raw row: job_class NoSuchJob, error_count 15`: {errorCount: 15, class: "NoSuchJob"},
	}
	ids := map[string]int64{}
	var failed time.Time
	n := 0
	for _, g := range readGoldenFile[goldenFailed2](t, golden2Dir, "failed.jsonl") {
		tc, ok := cases[g.Job]
		if !ok {
			continue // a resolution inside run: TestQue2ResolutionsMatchGolden
		}
		n++
		q := fmt.Sprintf("%s_%d", queue, len(ids))
		w := NewWorker(c, WorkMap{"Billing::Refund": func(*Job) error { return tc.failure }})
		w.Queue, w.MaxErrors = q, tc.maxErrors
		if tc.backoff > 0 {
			w.Backoff = func(int) time.Duration { return tc.backoff }
		}
		id, seen := ids[g.Job]
		if g.Note != "" { // the expired row, later: never worked again
			makeDue(t, id)
			if w.WorkOne() {
				t.Errorf("%s: an expired job was worked again", g.Job)
			}
			continue
		}
		if !seen {
			class := tc.class
			if class == "" {
				class = "Billing::Refund"
			}
			id = insertQue2Row(t, q, class, tc.errorCount)
			ids[g.Job] = id
		} else {
			makeDue(t, id)
		}
		w.Queue = que2QueueOf(t, id)
		failed = workOnce(t, w)
		got := readQue2State(t, id, failed)
		checkFailedLine(t, g, got)
	}
	if n != 16 {
		t.Errorf("%d failure lines of failed.jsonl compared, want 16", n)
	}
}

// que2QueueOf returns the queue of row id.
func que2QueueOf(t *testing.T, id int64) string {
	t.Helper()
	db, _ := que2Shared(t)
	var q string
	if err := db.QueryRow(`SELECT queue FROM que_jobs WHERE id = $1`, id).Scan(&q); err != nil {
		t.Fatal(err)
	}
	return q
}

// checkFailedLine compares a row after a failure with its golden line.
func checkFailedLine(t *testing.T, g goldenFailed2, got que2State) {
	t.Helper()
	what := fmt.Sprintf("%s, failure %d", g.Job, g.Failures)
	if !got.Left || got.ErrorCount != g.ErrorCount || got.Expired != g.ExpiredAtSet || got.Finished != g.FinishedAtSet {
		t.Errorf("%s: row %+v, want error_count %d expired %v", what, got, g.ErrorCount, g.ExpiredAtSet)
		return
	}
	if g.LastErrorMessage == nil {
		if got.Message.Valid || got.Backtrace.Valid {
			t.Errorf("%s: message %q backtrace %q, want both NULL", what, got.Message.String, got.Backtrace.String)
		}
	} else {
		msg := got.Message.String
		if utf8.RuneCountInString(msg) != *g.MessageChars || len(msg) != *g.MessageBytes {
			t.Errorf("%s: message of %d chars, %d bytes, want %d, %d", what, utf8.RuneCountInString(msg), len(msg),
				*g.MessageChars, *g.MessageBytes)
		}
		if *g.MessageChars < 500 && msg != *g.LastErrorMessage {
			t.Errorf("%s: message %q, want %q", what, msg, *g.LastErrorMessage)
		}
	}
	if g.ExpiredAtSet {
		// Expiry leaves run_at alone (it was made due just before) and
		// stamps expired_at at the failure.
		if !within(got.ExpiredAtMinusFailureS, 0) || got.RunAtMinusFailure > 0 {
			t.Errorf("%s: expired_at %+.3f s and run_at %+.3f s from the failure, want 0 and <= 0", what,
				got.ExpiredAtMinusFailureS, got.RunAtMinusFailure)
		}
	} else if !within(got.RunAtMinusFailure, *g.RunAtMinusFailureS) {
		t.Errorf("%s: run_at %+.3f s from the failure, want %+.0f", what, got.RunAtMinusFailure, *g.RunAtMinusFailureS)
	}
}

// TestQue2PanicStackGoesToBacktrace checks that a panic's value is the
// message and its stack, cut to 10,000 characters even in the middle of a
// line, the backtrace; a message of 600 characters is cut to 500 by
// characters. The failure is recorded, so the job is not retaken at once.
func TestQue2PanicStackGoesToBacktrace(t *testing.T) {
	c, queue := setup2(t)
	w := NewWorker(c, WorkMap{"Deep": func(j *Job) error {
		panicFromDeepInsideARecursionLongerThanQueKeepsOfABacktrace(400, strings.Repeat("é", 600))
		return nil
	}})
	w.Queue = queue
	j := enqueue(t, c, &Job{Type: "Deep", Queue: queue})
	failed := workOnce(t, w)
	got := readQue2State(t, j.ID, failed)
	if !got.Left || got.ErrorCount != 1 || !within(got.RunAtMinusFailure, 4) {
		t.Fatalf("row after the panic: %+v", got)
	}
	msg, bt := got.Message.String, got.Backtrace.String
	if !strings.HasPrefix(msg, "qg: job panicked: éé") || utf8.RuneCountInString(msg) != 500 {
		t.Errorf("message: %d chars, %.40q", utf8.RuneCountInString(msg), msg)
	}
	if !strings.HasPrefix(bt, "goroutine ") || utf8.RuneCountInString(bt) != 10000 || !strings.Contains(bt, "panicFromDeepInsideARecursionLongerThanQueKeepsOfABacktrace") {
		t.Errorf("backtrace: %d chars, %.60q", utf8.RuneCountInString(bt), bt)
	}
	if w.WorkOne() {
		t.Error("the failed job was taken again at once")
	}
}

// panicFromDeepInsideARecursionLongerThanQueKeepsOfABacktrace panics with msg from depth nested calls, for a long stack.
func panicFromDeepInsideARecursionLongerThanQueKeepsOfABacktrace(depth int, msg string) {
	if depth == 0 {
		panic(msg)
	}
	panicFromDeepInsideARecursionLongerThanQueKeepsOfABacktrace(depth-1, msg)
}
