package qg

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// badInsert inserts a row by raw SQL, as another producer could, and returns
// its job_id or PostgreSQL's error.
func badInsert(queue, jobClass, args string) (int64, error) {
	var id int64
	err := testDB.QueryRow(`INSERT INTO que_jobs (queue, job_class, args) VALUES ($1, $2, $3::text::json) RETURNING job_id`,
		queue, jobClass, args).Scan(&id)
	return id, err
}

// badMustInsert is badInsert failing the test on error.
func badMustInsert(t *testing.T, queue, jobClass, args string) int64 {
	t.Helper()
	id, err := badInsert(queue, jobClass, args)
	if err != nil {
		t.Fatalf("raw insert of %s job: %v", jobClass, err)
	}
	return id
}

// badWorker is a Worker on queue.
func badWorker(c *Client, queue string, m WorkMap) *Worker {
	w := NewWorker(c, m)
	w.Queue = queue
	w.Interval = 10 * time.Millisecond
	return w
}

// badAssertErrored checks that job id failed once, is still there with its
// args untouched, and that last_error contains want.
func badAssertErrored(t *testing.T, id int64, args string, want string) {
	t.Helper()
	st := goldenRead(t, id)
	if !st.Found {
		t.Fatalf("job %d was lost", id)
	}
	if st.ErrorCount != 1 || !st.LastError.Valid || !strings.Contains(st.LastError.String, want) {
		t.Fatalf("job %d: error_count %d, last_error %.200q; want 1 and a message containing %.200q",
			id, st.ErrorCount, st.LastError.String, want)
	}
	if st.Args != args {
		t.Fatalf("job %d: args changed from %.100q to %.100q", id, args, st.Args)
	}
	if st.RunAtFromNow < 2 || st.RunAtFromNow > 6 {
		t.Fatalf("job %d: run_at - now() = %.2fs, want about 4s", id, st.RunAtFromNow)
	}
}

// TestBadInputArgsNotArray: valid JSON that is not an array is accepted from
// any producer, DecodeArgs says ErrArgsNotArray, and a WorkFunc returning that
// error leaves the job in place with the message.
func TestBadInputArgsNotArray(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	var decodeErrs []error
	m := WorkMap{"NotArray": func(j *Job) error {
		var x any
		err := j.DecodeArgs(&x)
		decodeErrs = append(decodeErrs, err)
		return err
	}}
	for i, args := range []string{`{"a":1}`, `42`, `"s"`, `null`, `true`} {
		for _, via := range []string{"api", "sql"} {
			queue := fmt.Sprintf("%s_%d_%s", q, i, via)
			var id int64
			if via == "api" {
				id = enqueue(t, c, &Job{Queue: queue, Type: "NotArray", Args: []byte(args)}).ID
			} else {
				id = badMustInsert(t, queue, "NotArray", args)
			}
			j := mustLock(t, c, queue)
			if string(j.Args) != args {
				j.Done()
				t.Fatalf("%s %s: locked args %q", via, args, j.Args)
			}
			var x any
			err := j.DecodeArgs(&x)
			j.Done()
			if !errors.Is(err, ErrArgsNotArray) {
				t.Fatalf("%s %s: DecodeArgs = %v, want ErrArgsNotArray", via, args, err)
			}
			if !badWorker(c, queue, m).WorkOne() {
				t.Fatalf("%s %s: nothing worked", via, args)
			}
			last := decodeErrs[len(decodeErrs)-1]
			if !errors.Is(last, ErrArgsNotArray) {
				t.Fatalf("%s %s: WorkFunc's DecodeArgs = %v", via, args, last)
			}
			badAssertErrored(t, id, args, last.Error())
			badAssertErrored(t, id, args, ErrArgsNotArray.Error())
		}
	}
}

// badArgsExtremes are valid JSON args at the edges of what PostgreSQL's json
// type stores: each must come back from LockJob byte for byte.
func badArgsExtremes() map[string]string {
	var big strings.Builder
	big.WriteString("[")
	for i := 0; big.Len() < 1<<20; i++ {
		if i > 0 {
			big.WriteString(",")
		}
		fmt.Fprintf(&big, `{"i":%d,"s":"héllo ✓ 日本語 🎉 \u0000 \n %d"}`, i, i*i)
	}
	big.WriteString("]")
	return map[string]string{
		"deep10000":     strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		"large1MB":      big.String(),
		"escapedNUL":    `["a\u0000b",{"k\u0000":"\u0000"},"\u0000"]`,
		"loneSurrogate": `["\ud800","\udfff x"]`,
		"whitespace":    " [ 1 ,\n\t2 ,\r\n {\"a\" : [ ] } ] ",
		"rawU2028":      "[\"\u2028\u2029\"]",
		"hugeNumbers":   `[1e400,-1e-400,123456789012345678901234567890,0.1000000000000000000000000001]`,
	}
}

// TestBadInputArgsExtremes stores deep, large and NUL-carrying args through
// Enqueue and through raw SQL, and reads them back identical.
func TestBadInputArgsExtremes(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	for name, args := range badArgsExtremes() {
		if !json.Valid([]byte(args)) {
			t.Fatalf("%s: test args are not valid JSON", name)
		}
		for _, via := range []string{"api", "sql"} {
			queue := q + "_" + strings.ToLower(name) + "_" + via
			var id int64
			if via == "api" {
				if err := c.Enqueue(&Job{Queue: queue, Type: "Edge", Args: []byte(args)}); err != nil {
					t.Fatalf("%s via Enqueue: %v", name, err)
				}
			} else {
				id = badMustInsert(t, queue, "Edge", args)
			}
			j := mustLock(t, c, queue)
			if string(j.Args) != args || (via == "sql" && j.ID != id) {
				j.Done()
				t.Fatalf("%s via %s: locked args differ (%d bytes, want %d)", name, via, len(j.Args), len(args))
			}
			var elems []json.RawMessage
			if err := json.Unmarshal(j.Args, &elems); err != nil {
				j.Done()
				t.Fatal(err)
			}
			vals, err := decodeAll(j, len(elems))
			if err != nil {
				j.Done()
				t.Fatalf("%s via %s: DecodeArgs: %v", name, via, err)
			}
			if name == "escapedNUL" && vals[0] != "a\x00b" {
				t.Errorf("escaped NUL decoded as %q", vals[0])
			}
			if name == "hugeNumbers" && vals[2] != json.Number("123456789012345678901234567890") {
				t.Errorf("huge integer decoded as %#v", vals[2])
			}
			if err := j.Delete(); err != nil {
				t.Fatal(err)
			}
			j.Done()
			if n := countJobs(t, queue); n != 0 {
				t.Fatalf("%s via %s: %d rows left after Delete", name, via, n)
			}
		}
	}
}

// TestBadInputArgsPostgresRejects: valid-looking args PostgreSQL refuses give a
// clear error through Enqueue and through raw SQL, and write nothing.
func TestBadInputArgsPostgresRejects(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	cases := []struct {
		name, args string
		apiErr     error  // wrapped by Enqueue's error, when qg refuses first
		pgErr      string // in PostgreSQL's error
	}{
		// Go's encoding/json and PostgreSQL's json parser both stop short of
		// 20,000 levels.
		{"deep20000", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), ErrInvalidArgs, "stack depth limit exceeded"},
		// Go's json.Valid allows invalid UTF-8 in strings; PostgreSQL does not.
		{"invalidUTF8", "[\"\xff\xfe\"]", nil, "invalid byte sequence"},
	}
	for _, tc := range cases {
		queue := q + "_" + strings.ToLower(tc.name)
		err := c.Enqueue(&Job{Queue: queue, Type: "Edge", Args: []byte(tc.args)})
		switch {
		case err == nil:
			t.Fatalf("%s: Enqueue succeeded", tc.name)
		case tc.apiErr != nil && !errors.Is(err, tc.apiErr):
			t.Fatalf("%s: Enqueue = %v, want %v", tc.name, err, tc.apiErr)
		case tc.apiErr == nil && !strings.Contains(err.Error(), tc.pgErr):
			t.Fatalf("%s: Enqueue = %v, want PostgreSQL's %q", tc.name, err, tc.pgErr)
		}
		if _, err := badInsert(queue, "Edge", tc.args); err == nil || !strings.Contains(err.Error(), tc.pgErr) {
			t.Fatalf("%s: raw insert gave %v, want %q", tc.name, err, tc.pgErr)
		}
		if n := countJobs(t, queue); n != 0 {
			t.Fatalf("%s: %d rows written", tc.name, n)
		}
	}
}

// TestBadInputMalformedArgs: Enqueue refuses args that are not JSON with
// ErrInvalidArgs before any SQL runs, and PostgreSQL refuses them in a raw
// insert: the json column never holds invalid JSON.
func TestBadInputMalformedArgs(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	// A Client whose pool is closed, and a transaction already rolled back:
	// any SQL there would fail with another error than ErrInvalidArgs.
	closedDB := openDB(t)
	noSQL, err := NewClient2(closedDB)
	if err != nil {
		t.Fatal(err)
	}
	defer noSQL.Close()
	closedDB.Close()
	doneTx, err := testDB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := doneTx.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, args := range []string{`[1,`, `{"a":}`, `not json`, `[NaN]`, `[Infinity]`, `[1] [2]`,
		`['single']`, `[01]`, "[\"tab\traw\"]", "[\"nul\x00\"]", `[1,]`, `]`, `{"a" 1}`} {
		for name, enq := range map[string]func(j *Job) error{
			"Enqueue":       c.Enqueue,
			"EnqueueInTx":   func(j *Job) error { return c.EnqueueInTx(j, doneTx) },
			"closed pool":   noSQL.Enqueue,
			"EnqueueCtx":    func(j *Job) error { return c.EnqueueContext(context.Background(), j) },
			"EnqueueInTxCt": func(j *Job) error { return c.EnqueueInTxContext(context.Background(), j, doneTx) },
		} {
			err := enq(&Job{Queue: q, Type: "Bad", Args: []byte(args)})
			if !errors.Is(err, ErrInvalidArgs) {
				t.Fatalf("%s(%q) = %v, want ErrInvalidArgs", name, args, err)
			}
		}
		_, err := badInsert(q, "Bad", args)
		if err == nil {
			t.Fatalf("PostgreSQL stored invalid JSON %q", args)
		}
		if !strings.Contains(err.Error(), "invalid input syntax for type json") &&
			!strings.Contains(err.Error(), "invalid byte sequence") {
			t.Fatalf("raw insert of %q: unexpected error %v", args, err)
		}
	}
	if n := countJobs(t, q); n != 0 {
		t.Fatalf("%d rows written", n)
	}
}

// TestBadInputMissingType: an empty Type is ErrMissingType, unwrapped, on
// every enqueue path, before any SQL. A raw row with an empty job_class (the
// column allows it) is an unknown-type error of that job.
func TestBadInputMissingType(t *testing.T) {
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
	id := badMustInsert(t, q, "", `[1]`)
	if !badWorker(c, q, WorkMap{"Other": func(*Job) error { return nil }}).WorkOne() {
		t.Fatal("nothing worked")
	}
	badAssertErrored(t, id, `[1]`, "unknown")
}

// TestBadInputLongAndUnknownJobClass: a 100 KB job_class and an unknown one,
// written by raw SQL, are job errors naming the type; a 100 KB type that the
// WorkMap knows is worked.
func TestBadInputLongAndUnknownJobClass(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	long := "Deeply::" + strings.Repeat("Nested::", 100<<10/8) + "Job"
	ran := 0
	m := WorkMap{"Known": func(*Job) error { ran++; return nil }}
	for i, class := range []string{long, "Nope::Missing", "send_email", "known"} {
		queue := fmt.Sprintf("%s_%d", q, i)
		id := badMustInsert(t, queue, class, `[1]`)
		if !badWorker(c, queue, m).WorkOne() {
			t.Fatalf("%.40s: nothing worked", class)
		}
		badAssertErrored(t, id, `[1]`, class)
	}
	if ran != 0 {
		t.Fatalf("Known ran %d times", ran)
	}
	m[long] = func(j *Job) error { ran++; return nil }
	enqueue(t, c, &Job{Queue: q, Type: long, Args: []byte(`[2]`)})
	badMustInsert(t, q, long, `[3]`)
	w := badWorker(c, q, m)
	for range 2 {
		if !w.WorkOne() {
			t.Fatal("nothing worked")
		}
	}
	if ran != 2 || countJobs(t, q) != 0 {
		t.Fatalf("long type: ran %d times, %d rows left", ran, countJobs(t, q))
	}
}

// TestBadInputQueueNameSpacesAndUnicode works jobs of a queue whose name has
// spaces, unicode and a line separator, written by Enqueue and by raw SQL.
func TestBadInputQueueNameSpacesAndUnicode(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	queue := q + " with  spaces ✓ 日本語 🎉 \u2028 end "
	enqueue(t, c, &Job{Queue: queue, Type: "Q", Args: []byte(`["api"]`)})
	badMustInsert(t, queue, "Q", `["sql"]`)
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
	w := badWorker(c, queue, WorkMap{"Q": func(j *Job) error {
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

// TestBadInputPriorityLimits locks jobs at smallint's limits, written by
// Enqueue and by raw SQL, in priority order. Enqueue's Priority 0 means 100.
func TestBadInputPriorityLimits(t *testing.T) {
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

// TestBadInputRunAtExtremes: a job due in year 1 is locked, one due in 9999
// is not, whether Enqueue or raw SQL wrote them; a year-1 job can be
// finished and failed (its run_at is part of the key).
func TestBadInputRunAtExtremes(t *testing.T) {
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
		badAssertErrored(t, j.ID, `[]`, "failed in year 1")
	}
}

// TestBadInputRunAtInfinity: run_at 'infinity' and '-infinity' are legal in
// the timestamptz column, so another producer can write them. The first must
// never run; the second must not block the queue: the other jobs of the queue
// are still worked, and the row itself is not lost.
func TestBadInputRunAtInfinity(t *testing.T) {
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
	w := badWorker(c, q, WorkMap{
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

// badMD5 is the hex MD5 of s, as PostgreSQL's md5() gives it.
func badMD5(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestBadInputHugeErrorMessage records a 5 MB message with Job.Error and
// through a Worker: it is stored whole.
func TestBadInputHugeErrorMessage(t *testing.T) {
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
		if n != len(msg) || sum != badMD5(msg) || count != 1 {
			t.Fatalf("job %d: last_error %d bytes (md5 %s), error_count %d; want %d bytes (md5 %s), 1",
				id, n, sum, count, len(msg), badMD5(msg))
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

	id = badMustInsert(t, q+"_w", "Huge", `[]`)
	if !badWorker(c, q+"_w", WorkMap{"Huge": func(*Job) error { return errors.New(msg) }}).WorkOne() {
		t.Fatal("nothing worked")
	}
	check(id)
}

// TestBadInputDirtyErrorMessage records a message with invalid UTF-8 and a
// NUL byte, which a text column cannot hold: Job.Error succeeds and stores it
// with those bytes replaced.
func TestBadInputDirtyErrorMessage(t *testing.T) {
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
	badAssertErrored(t, id, `[]`, want)
	if st := goldenRead(t, id); st.LastError.String != want {
		t.Fatalf("last_error = %q, want %q", st.LastError.String, want)
	}

	id = badMustInsert(t, q+"_w", "Dirty", `[]`)
	if !badWorker(c, q+"_w", WorkMap{"Dirty": func(*Job) error { return errors.New(msg) }}).WorkOne() {
		t.Fatal("nothing worked")
	}
	if st := goldenRead(t, id); st.LastError.String != want || st.ErrorCount != 1 {
		t.Fatalf("via Worker: last_error = %q, error_count %d", st.LastError.String, st.ErrorCount)
	}
}

// badPollUntil polls cond until it holds or timeout passes.
func badPollUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// TestBadInputPoolFewerConnsThanWorkers runs 4 workers on a pool of 2
// connections: workers wait for a connection instead of deadlocking, and
// every job (and every job a job enqueues in its own transaction) is worked.
func TestBadInputPoolFewerConnsThanWorkers(t *testing.T) {
	_, q := setup(t)
	cleanQueues(t, q)
	db := openDB(t)
	db.SetMaxOpenConns(2)
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const parents = 12
	for i := range parents {
		enqueue(t, c, &Job{Queue: q, Type: "Parent", Args: []byte(fmt.Sprintf("[%d]", i))})
	}
	var worked, failedOnce atomic.Int32
	m := WorkMap{
		"Parent": func(j *Job) error {
			// A follow-up written in the job's own transaction, on its
			// pinned connection: no second connection is needed.
			if _, err := j.Tx().Exec(`INSERT INTO que_jobs (queue, job_class, args) VALUES ($1, 'Child', $2::text::json)`,
				q, string(j.Args)); err != nil {
				return err
			}
			worked.Add(1)
			return nil
		},
		"Child": func(j *Job) error {
			var n int
			if err := j.Tx().QueryRow(`SELECT count(*) FROM que_jobs WHERE job_id = $1`, j.ID).Scan(&n); err != nil {
				return err
			}
			worked.Add(1)
			return nil
		},
		"FailOnce": func(j *Job) error {
			if j.ErrorCount == 0 {
				failedOnce.Add(1)
				return errors.New("first try fails")
			}
			return nil
		},
	}
	enqueue(t, c, &Job{Queue: q, Type: "FailOnce"})
	p := NewWorkerPool(c, m, 4)
	p.Queue = q
	p.Interval = 10 * time.Millisecond
	p.Start()
	allDone := badPollUntil(60*time.Second, func() bool {
		var n int
		_ = testDB.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = $1 AND error_count = 0`, q).Scan(&n)
		return n == 0 && worked.Load() == 2*parents && failedOnce.Load() == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	shutdownErr := p.ShutdownContext(ctx)
	if !allDone {
		var stuck []string
		rows, err := testDB.Query(`SELECT state || ': ' || left(query, 60) FROM pg_stat_activity WHERE datname = current_database()`)
		if err == nil {
			for rows.Next() {
				var s string
				_ = rows.Scan(&s)
				stuck = append(stuck, s)
			}
			rows.Close()
		}
		t.Fatalf("deadlock? after 60s: %d jobs worked of %d, %d rows left, open conns %d (in use %d, waiting %d)\n%s",
			worked.Load(), 2*parents, countJobs(t, q), db.Stats().OpenConnections, db.Stats().InUse,
			db.Stats().WaitCount, strings.Join(stuck, "\n"))
	}
	if shutdownErr != nil {
		t.Fatalf("ShutdownContext: %v", shutdownErr)
	}
	// At most the failed-once job is left, waiting for its backoff.
	var left, errCount int
	if err := testDB.QueryRow(`SELECT count(*), coalesce(min(error_count), 1) FROM que_jobs WHERE queue = $1`, q).Scan(&left, &errCount); err != nil {
		t.Fatal(err)
	}
	if left > 1 || errCount < 1 {
		t.Fatalf("%d rows left (min error_count %d), want at most the one that failed once", left, errCount)
	}
	if s := db.Stats(); s.InUse != 0 {
		t.Fatalf("%d connections still in use after Shutdown", s.InUse)
	}
}

// badScratchDB creates a database of its own on the test server, dropped
// after the test, and returns a pool on it.
func badScratchDB(t *testing.T) *sql.DB {
	t.Helper()
	name := fmt.Sprintf("qg_scratch_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := testDB.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := testDB.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop scratch database: %v", err)
		}
	})
	u, err := url.Parse(testURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// badTableShape describes que_jobs's columns, primary key and comment.
func badTableShape(t *testing.T, db *sql.DB) string {
	t.Helper()
	var shape string
	err := db.QueryRow(`SELECT string_agg(format('%s %s %s %s', column_name, data_type, is_nullable,
    coalesce(column_default, '-')), '; ' ORDER BY column_name)
  || ' | pk ' || (SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'que_jobs_pkey')
  || ' | comment ' || coalesce(obj_description('que_jobs'::regclass, 'pg_class'), '-')
FROM information_schema.columns WHERE table_name = 'que_jobs'`).Scan(&shape)
	if err != nil {
		t.Fatal(err)
	}
	return shape
}

// badTableOID is que_jobs's oid, to tell a table left alone from a new one.
func badTableOID(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	var oid int64
	if err := db.QueryRow(`SELECT 'que_jobs'::regclass::oid::bigint`).Scan(&oid); err != nil {
		t.Fatal(err)
	}
	return oid
}

// rubyQue0Tables is the table as Ruby Que 0.x's migrations 1 to 3 build it,
// each followed by Que's version comment.
const rubyQue0Table = `
CREATE TABLE que_jobs
(
  priority    integer     NOT NULL DEFAULT 1,
  run_at      timestamptz NOT NULL DEFAULT now(),
  job_id      bigserial   NOT NULL,
  job_class   text        NOT NULL,
  args        json        NOT NULL DEFAULT '[]'::json,
  error_count integer     NOT NULL DEFAULT 0,
  last_error  text,

  CONSTRAINT que_jobs_pkey PRIMARY KEY (priority, run_at, job_id)
);
COMMENT ON TABLE que_jobs IS '1';
ALTER TABLE que_jobs ALTER COLUMN priority SET DEFAULT 100;
COMMENT ON TABLE que_jobs IS '2';
ALTER TABLE que_jobs
  DROP CONSTRAINT que_jobs_pkey,
  ALTER COLUMN priority TYPE smallint,
  ADD COLUMN queue TEXT NOT NULL DEFAULT '',
  ADD CONSTRAINT que_jobs_pkey PRIMARY KEY (queue, priority, run_at, job_id);
COMMENT ON TABLE que_jobs IS '3';
`

// que2Table is the shape of Ruby Que 1.x/2.x's que_jobs, at schema version 7.
const que2Table = `
CREATE TABLE que_jobs (
  priority smallint DEFAULT 100 NOT NULL,
  run_at timestamptz DEFAULT now() NOT NULL,
  id bigserial PRIMARY KEY,
  job_class text NOT NULL,
  error_count integer DEFAULT 0 NOT NULL,
  last_error_message text,
  queue text DEFAULT 'default' NOT NULL,
  last_error_backtrace text,
  finished_at timestamptz,
  expired_at timestamptz,
  args jsonb DEFAULT '[]' NOT NULL,
  data jsonb DEFAULT '{}' NOT NULL,
  job_schema_version integer NOT NULL,
  kwargs jsonb DEFAULT '{}' NOT NULL
);
COMMENT ON TABLE que_jobs IS '7';
`

// TestBadInputSchemaMissingOrOtherVersion checks NewClient2, NewClient and
// Migrate on a database without que_jobs, with Ruby Que 0.x's own table, and
// with tables of other Que versions.
func TestBadInputSchemaMissingOrOtherVersion(t *testing.T) {
	db := badScratchDB(t)
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		if _, err := db.Exec(sql); err != nil {
			t.Fatal(err)
		}
	}

	// Missing: both constructors say so; Migrate creates the table, twice.
	if _, err := NewClient2(db); !errors.Is(err, ErrNoTable) {
		t.Fatalf("NewClient2 without que_jobs: %v, want ErrNoTable", err)
	}
	if c := NewClient(db); c != nil {
		t.Fatal("NewClient without que_jobs returned a Client")
	}
	if err := Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	created := badTableShape(t, db)
	oid := badTableOID(t, db)
	if err := Migrate(ctx, db); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if badTableShape(t, db) != created || badTableOID(t, db) != oid {
		t.Fatal("second Migrate changed the table")
	}
	for _, want := range []string{"args json NO '[]'::json", "priority smallint NO 100", "queue text NO ''::text",
		"run_at timestamp with time zone NO now()", "last_error text YES -", "error_count integer NO 0",
		"PRIMARY KEY (queue, priority, run_at, job_id)", "comment 3"} {
		if !strings.Contains(created, want) {
			t.Fatalf("Migrate's table lacks %q:\n%s", want, created)
		}
	}
	badRoundTrip(t, db)

	// Ruby's own version 3 table: the same shape; Migrate leaves it alone.
	exec(`DROP TABLE que_jobs`)
	exec(rubyQue0Table)
	exec(`INSERT INTO que_jobs (job_class, args) VALUES ('SendEmail', '[1,"ruby"]')`)
	if ruby := badTableShape(t, db); ruby != created {
		t.Fatalf("Ruby's table differs from Migrate's:\nruby: %s\nqg:   %s", ruby, created)
	}
	oid = badTableOID(t, db)
	if err := Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate on Ruby's table: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM que_jobs WHERE job_class = 'SendEmail'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("Ruby's row: %d, %v", n, err)
	}
	if badTableOID(t, db) != oid || badTableShape(t, db) != created {
		t.Fatal("Migrate touched Ruby's table")
	}
	badRoundTrip(t, db)

	// Other versions: a clear error from NewClient2 and Migrate, table untouched.
	for _, tc := range []struct{ ddl, mention string }{
		{que2Table, "Ruby Que 2.x"},
		{strings.ReplaceAll(que2Table, "'7'", "'4'"), "Ruby Que 1.x"},
		{strings.ReplaceAll(que2Table, "'7'", "'6'"), "Ruby Que 1.x"},
		{strings.ReplaceAll(rubyQue0Table, "IS '3'", "IS '2'"), "2"},
		{strings.ReplaceAll(rubyQue0Table, "IS '3'", "IS NULL"), "no version comment"},
	} {
		exec(`DROP TABLE que_jobs`)
		exec(tc.ddl)
		shape, oid := badTableShape(t, db), badTableOID(t, db)
		_, err := NewClient2(db)
		if !errors.Is(err, ErrSchemaVersion) || !strings.Contains(err.Error(), tc.mention) {
			t.Fatalf("NewClient2: %v; want ErrSchemaVersion mentioning %q", err, tc.mention)
		}
		if c := NewClient(db); c != nil {
			t.Fatal("NewClient returned a Client")
		}
		err = Migrate(ctx, db)
		if !errors.Is(err, ErrSchemaVersion) || !strings.Contains(err.Error(), tc.mention) {
			t.Fatalf("Migrate: %v; want ErrSchemaVersion mentioning %q", err, tc.mention)
		}
		if badTableShape(t, db) != shape || badTableOID(t, db) != oid {
			t.Fatal("Migrate touched the table")
		}
	}
}

// badRoundTrip enqueues, locks and deletes a job on db's que_jobs.
func badRoundTrip(t *testing.T, db *sql.DB) {
	t.Helper()
	c, err := NewClient2(db)
	if err != nil {
		t.Fatalf("NewClient2: %v", err)
	}
	defer c.Close()
	if err := c.Enqueue(&Job{Type: "Go", Args: []byte(`[1]`), Priority: -1}); err != nil {
		t.Fatal(err)
	}
	j, err := c.LockJob("")
	if err != nil || j == nil {
		t.Fatalf("LockJob: %v, %v", j, err)
	}
	defer j.Done()
	if j.Type != "Go" || string(j.Args) != `[1]` {
		t.Fatalf("locked %+v", j)
	}
	if err := j.Delete(); err != nil {
		t.Fatal(err)
	}
}

// TestBadInputUnreachableDatabase: NewClient2 on a pool whose server does not
// answer returns an error, promptly, without panicking.
func TestBadInputUnreachableDatabase(t *testing.T) {
	db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type result struct {
		c        *Client
		err      error
		c1       *Client
		migrate  error
		panicked any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			r.panicked = recover()
			done <- r
		}()
		r.c, r.err = NewClient2(db)
		r.c1 = NewClient(db)
		r.migrate = Migrate(context.Background(), db)
	}()
	select {
	case r := <-done:
		if r.panicked != nil {
			t.Fatalf("panic: %v", r.panicked)
		}
		if r.err == nil || r.c != nil || r.c1 != nil || r.migrate == nil {
			t.Fatalf("NewClient2 = %v, %v; NewClient = %v; Migrate = %v", r.c, r.err, r.c1, r.migrate)
		}
		if !strings.Contains(r.err.Error(), "127.0.0.1") && !strings.Contains(r.err.Error(), "connect") {
			t.Errorf("error does not say what is unreachable: %v", r.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("NewClient2 on an unreachable server hung for 60s")
	}
}
