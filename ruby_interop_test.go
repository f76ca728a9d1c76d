package qg

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// goldenDir holds what the real Ruby Que 0.14.3 wrote and did (see its
// README.md). The rows there are facts: these tests check qg against them.
const goldenDir = "testdata/ruby-que-0.14.3"

// goldenEnqueued is a line of enqueued.jsonl: a row Que::Job.enqueue wrote.
type goldenEnqueued struct {
	Ruby          string  `json:"ruby"`
	Queue         string  `json:"queue"`
	Priority      int16   `json:"priority"`
	JobClass      string  `json:"job_class"`
	Args          string  `json:"args"`
	ErrorCount    int32   `json:"error_count"`
	LastError     *string `json:"last_error"`
	RunAtFromNowS float64 `json:"run_at_from_now_s"`
	EnqueueError  string  `json:"enqueue_error"`
	RowWritten    *bool   `json:"row_written"`
}

// written reports whether Ruby's enqueue wrote a row.
func (g goldenEnqueued) written() bool { return g.RowWritten == nil || *g.RowWritten }

// goldenWorked is a line of worked.jsonl: a raw row and what Que::Job.work did.
type goldenWorked struct {
	JobClass           string   `json:"job_class"`
	Args               string   `json:"args"`
	Event              string   `json:"event"`
	RunReceived        string   `json:"run_received"`
	RunReceivedClasses []string `json:"run_received_classes"`
	RunReceivedKwargs  string   `json:"run_received_keywords"`
	HashKeysAsSymbols  *bool    `json:"hash_keys_readable_as_symbols"`
	RowKept            bool     `json:"row_kept"`
	ErrorCount         int32    `json:"error_count"`
	LastError          string   `json:"last_error"`
	RunAtMinusFailureS float64  `json:"run_at_minus_failure_s"`
}

// goldenFailed is a line of failed.jsonl: a job whose run raised.
type goldenFailed struct {
	Ruby               string  `json:"ruby"`
	Inserted           string  `json:"inserted"`
	Failures           int     `json:"failures"`
	ErrorCount         int32   `json:"error_count"`
	LastError          string  `json:"last_error"`
	LastErrorLineCount int     `json:"last_error_line_count"`
	FirstLineChars     int     `json:"first_line_chars"`
	FirstLineBytes     int     `json:"first_line_bytes"`
	RunAtMinusFailureS float64 `json:"run_at_minus_failure_s"`
}

// readGoldenLines decodes every line of a golden .jsonl file. A missing file
// fails the test: the golden data is part of the contract.
func readGoldenLines[T any](t testing.TB, name string) []T {
	t.Helper()
	return readGoldenFile[T](t, goldenDir, name)
}

// readGoldenFile decodes every line of the golden file name in dir.
func readGoldenFile[T any](t testing.TB, dir, name string) []T {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("golden data missing (expected in the repo's testdata/): %v", err)
	}
	defer f.Close()
	var rows []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var row T
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&row); err != nil {
			t.Fatalf("%s line %d: %v", name, len(rows)+1, err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no rows", name)
	}
	return rows
}

// cleanQueues deletes the rows of queue q and of its suffixed queues (q_...,
// "q ...") now and after the test, so a test finds its queues empty even
// when run again with -count.
func cleanQueues(t *testing.T, q string) {
	t.Helper()
	clean := func() error {
		_, err := testDB.Exec(`DELETE FROM que_jobs WHERE queue = $1
  OR left(queue, length($1) + 1) IN ($1 || '_', $1 || ' ')`, q)
		return err
	}
	if err := clean(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := clean(); err != nil {
			t.Error(err)
		}
	})
}

// goldenRow is a que_jobs row to insert by raw SQL, as Ruby (or any other
// producer) writes it. Nil fields take the column's default.
type goldenRow struct {
	Queue         string
	Priority      *int16
	RunAtFromNowS *float64
	JobClass      string
	Args          string
	ErrorCount    int32
	LastError     *string
}

// goldenInsert inserts r by raw SQL and returns its job_id. Args go in as
// text, so the json column stores them byte for byte.
func goldenInsert(t *testing.T, r goldenRow) int64 {
	t.Helper()
	var id int64
	err := testDB.QueryRow(`INSERT INTO que_jobs (queue, priority, run_at, job_class, args, error_count, last_error)
VALUES ($1, coalesce($2::smallint, 100), now() + make_interval(secs => coalesce($3::float8, 0)),
        $4, $5::text::json, $6, $7)
RETURNING job_id`, r.Queue, r.Priority, r.RunAtFromNowS, r.JobClass, r.Args, r.ErrorCount, r.LastError).Scan(&id)
	if err != nil {
		t.Fatalf("insert %s %s: %v", r.JobClass, r.Args, err)
	}
	return id
}

// goldenState is a job's row as read back by plain SQL.
type goldenState struct {
	Found        bool
	Queue        string
	Args         string // args::text
	ErrorCount   int32
	LastError    sql.NullString
	RunAtFromNow float64 // run_at - now(), in seconds
}

// goldenRead reads job id back with plain SQL.
func goldenRead(t *testing.T, id int64) goldenState {
	t.Helper()
	s := goldenState{Found: true}
	err := testDB.QueryRow(`SELECT queue, args::text, error_count, last_error,
  extract(epoch FROM run_at - now())::float8
FROM que_jobs WHERE job_id = $1`, id).Scan(&s.Queue, &s.Args, &s.ErrorCount, &s.LastError, &s.RunAtFromNow)
	if errors.Is(err, sql.ErrNoRows) {
		return goldenState{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goldenElems splits a JSON array into its raw elements.
func goldenElems(t *testing.T, args string) []json.RawMessage {
	t.Helper()
	var elems []json.RawMessage
	if err := json.Unmarshal([]byte(args), &elems); err != nil {
		t.Fatalf("args %s: %v", args, err)
	}
	return elems
}

// decodeAll decodes every element of j's args into an interface value
// through DecodeArgs, with exactly as many destinations as elements.
func decodeAll(j *Job, n int) ([]any, error) {
	vals := make([]any, n)
	dst := make([]any, n)
	for i := range vals {
		dst[i] = &vals[i]
	}
	return vals, j.DecodeArgs(dst...)
}

// rubyClass names the Ruby class Ruby's JSON parser gives a value that
// DecodeArgs decoded into an interface: Integer and Float are told apart by
// the number's text, as Ruby's parser does.
func rubyClass(v any) string {
	switch v := v.(type) {
	case nil:
		return "NilClass"
	case bool:
		if v {
			return "TrueClass"
		}
		return "FalseClass"
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return "Float"
		}
		return "Integer"
	case string:
		return "String"
	case []any:
		return "Array"
	case map[string]any:
		return "Hash"
	}
	return fmt.Sprintf("%T", v)
}

// TestRubyInteropEnqueuedRowsLockExactly inserts every row Ruby's enqueue
// wrote, as it wrote it, and checks LockJob reads every field back, args byte
// for byte, and that DecodeArgs keeps Ruby's numbers exact.
func TestRubyInteropEnqueuedRowsLockExactly(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	rows := readGoldenLines[goldenEnqueued](t, "enqueued.jsonl")
	written := 0
	for i, g := range rows {
		if !g.written() {
			continue
		}
		written++
		queue := fmt.Sprintf("%s_%02d", q, i)
		priority, offset := g.Priority, g.RunAtFromNowS
		id := goldenInsert(t, goldenRow{Queue: queue, Priority: &priority, RunAtFromNowS: &offset,
			JobClass: g.JobClass, Args: g.Args})
		if st := goldenRead(t, id); st.Args != g.Args {
			t.Fatalf("%s: stored args %q, Ruby stored %q", g.Ruby, st.Args, g.Args)
		}
		if g.RunAtFromNowS > 0 {
			// Ruby scheduled it later: not runnable yet.
			if j, err := c.LockJob(queue); err != nil || j != nil {
				if j != nil {
					j.Done()
				}
				t.Fatalf("%s: future job locked: %v, %v", g.Ruby, j, err)
			}
			if _, err := testDB.Exec(`UPDATE que_jobs SET run_at = now() - interval '1 second' WHERE job_id = $1`, id); err != nil {
				t.Fatal(err)
			}
		}
		var runAt time.Time
		if err := testDB.QueryRow(`SELECT run_at FROM que_jobs WHERE job_id = $1`, id).Scan(&runAt); err != nil {
			t.Fatal(err)
		}
		j := mustLock(t, c, queue)
		if j.ID != id || j.Queue != queue || j.Priority != g.Priority || !j.RunAt.Equal(runAt) ||
			j.Type != g.JobClass || !bytes.Equal(j.Args, []byte(g.Args)) ||
			j.ErrorCount != g.ErrorCount || j.ErrorCount != 0 || j.LastError.Valid {
			j.Done()
			t.Fatalf("%s: locked %+v\nwant id %d priority %d run_at %v class %q args %q error_count 0, no last_error",
				g.Ruby, j, id, g.Priority, runAt, g.JobClass, g.Args)
		}
		goldenCheckDecode(t, g, j)
		if err := j.Delete(); err != nil {
			t.Fatal(err)
		}
		j.Done()

		// A Go producer writing the same args text stores the same bytes.
		goJob := enqueue(t, c, &Job{Queue: queue + "_go", Priority: g.Priority, Type: g.JobClass, Args: []byte(g.Args)})
		if st := goldenRead(t, goJob.ID); st.Args != g.Args {
			t.Fatalf("%s: Go Enqueue stored args %q, Ruby stored %q", g.Ruby, st.Args, g.Args)
		}
		gj := mustLock(t, c, queue+"_go")
		if !bytes.Equal(gj.Args, []byte(g.Args)) || gj.Type != g.JobClass || gj.Priority != g.Priority {
			gj.Done()
			t.Fatalf("%s: Go-enqueued job locked as %+v", g.Ruby, gj)
		}
		if err := gj.Delete(); err != nil {
			t.Fatal(err)
		}
		gj.Done()
	}
	if written < 25 {
		t.Fatalf("only %d written rows in enqueued.jsonl", written)
	}
}

// goldenCheckDecode checks DecodeArgs on a locked golden job: one destination
// per element decodes, one fewer is an arity error, and every number keeps
// Ruby's exact text.
func goldenCheckDecode(t *testing.T, g goldenEnqueued, j *Job) {
	t.Helper()
	elems := goldenElems(t, g.Args)
	vals, err := decodeAll(j, len(elems))
	if err != nil {
		t.Fatalf("%s: DecodeArgs: %v", g.Ruby, err)
	}
	if len(elems) > 0 {
		if _, err := decodeAll(j, len(elems)-1); err == nil {
			t.Fatalf("%s: DecodeArgs with %d destinations for %d args: no error", g.Ruby, len(elems)-1, len(elems))
		}
	}
	for i, raw := range elems {
		if n, ok := vals[i].(json.Number); ok && n.String() != string(raw) {
			t.Fatalf("%s: arg %d decoded as %s, Ruby wrote %s", g.Ruby, i, n, raw)
		}
		var want any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(vals[i], want) {
			t.Fatalf("%s: arg %d decoded as %#v, want %#v", g.Ruby, i, vals[i], want)
		}
	}
	switch {
	case strings.HasPrefix(g.Args, "[9007199254740993,"):
		want := []any{json.Number("9007199254740993"), json.Number("-9223372036854775808"),
			json.Number("18446744073709551616"), json.Number("0"), json.Number("0")}
		if !reflect.DeepEqual(vals, want) {
			t.Fatalf("big integers decoded as %#v, want %#v", vals, want)
		}
		var a, b, c json.Number
		if err := j.DecodeArgs(nil, &a, &b, nil, &c); err != nil {
			t.Fatal(err)
		}
		if a != "-9223372036854775808" || b != "18446744073709551616" || c != "0" {
			t.Fatalf("typed json.Number destinations got %s %s %s", a, b, c)
		}
		var i64 int64
		if err := j.DecodeArgs(nil, &i64, nil, nil, nil); err != nil || i64 != math.MinInt64 {
			t.Fatalf("int64 destination got %d, %v", i64, err)
		}
	case strings.HasPrefix(g.Args, "[3.14159,"):
		for i, want := range []string{"3.14159", "-0.5", "2.0", "1.0e+100", "1.0e-07", "100.0", "-0.0"} {
			if vals[i] != json.Number(want) {
				t.Fatalf("float %d decoded as %#v, want %s", i, vals[i], want)
			}
		}
		var f float64
		if err := j.DecodeArgs(nil, nil, nil, nil, nil, nil, &f); err != nil || f != 0 || !math.Signbit(f) {
			t.Fatalf("-0.0 into float64 gave %v, %v", f, err)
		}
	case strings.Contains(g.Args, "\u2028"):
		s, _ := vals[0].(string)
		for _, part := range []string{`quote"`, `backslash\`, "tab\t", "newline\n", "cr\r", "slash/",
			"<b>&amp;</b>", "\u2028", "nul\x00", "esc\x1b"} {
			if !strings.Contains(s, part) {
				t.Fatalf("control string %q lacks %q", s, part)
			}
		}
	case strings.Contains(g.Args, "日本語"):
		if vals[0] != "héllo wörld ✓ 日本語 🎉" || vals[1] != "" {
			t.Fatalf("unicode args decoded as %#v", vals)
		}
	}
}

// TestRubyInteropEnqueueNaNRejected replays the two enqueues Ruby could not
// write: bare NaN and Infinity are not JSON. PostgreSQL rejected Ruby's
// insert; qg rejects them before any SQL.
func TestRubyInteropEnqueueNaNRejected(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	for _, g := range readGoldenLines[goldenEnqueued](t, "enqueued.jsonl") {
		if g.written() {
			continue
		}
		bare := "NaN"
		if strings.Contains(g.Ruby, "INFINITY") {
			bare = "Infinity"
		}
		args := "[" + bare + "]"
		_, err := testDB.Exec(`INSERT INTO que_jobs (queue, job_class, args) VALUES ($1, 'SendEmail', $2::text::json)`, q, args)
		if err == nil || !strings.Contains(g.EnqueueError, "invalid input syntax for type json") ||
			!strings.Contains(err.Error(), "invalid input syntax for type json") {
			t.Fatalf("%s: raw insert of %s gave %v; Ruby saw %q", g.Ruby, args, err, g.EnqueueError)
		}
		if err := c.Enqueue(&Job{Queue: q, Type: "SendEmail", Args: []byte(args)}); !errors.Is(err, ErrInvalidArgs) {
			t.Fatalf("Enqueue %s: %v, want ErrInvalidArgs", args, err)
		}
	}
	if n := countJobs(t, q); n != 0 {
		t.Fatalf("%d rows written", n)
	}
}

// goldenSeen is what a Go WorkFunc saw of a golden job.
type goldenSeen struct {
	ran      bool
	notArray bool  // DecodeArgs said ErrArgsNotArray
	vals     []any // the positional args, when an array
}

// TestRubyInteropWorkedRows inserts the rows Ruby worked, as Ruby found them,
// and works them with a Worker whose WorkMap has Ruby's class names. Go sees
// the positional args Ruby saw (count and Ruby class of each), success
// deletes the row, and an unknown class is a job error with Que's backoff.
func TestRubyInteropWorkedRows(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	seen := map[int64]*goldenSeen{}
	splat := func(j *Job) error { // Ruby's run(*args)
		s := &goldenSeen{ran: true}
		seen[j.ID] = s
		vals, err := decodeAll(j, 64)
		if errors.Is(err, ErrArgsNotArray) {
			s.notArray = true
			return nil // Ruby splats a non-array; a Go job just reads Args
		}
		if err != nil {
			return err
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(j.Args, &elems); err != nil {
			return err
		}
		s.vals = vals[:len(elems)]
		return nil
	}
	m := WorkMap{
		"SendEmail":           splat,
		"Billing::ChargeCard": splat,
		"Que::Job":            func(j *Job) error { seen[j.ID] = &goldenSeen{ran: true}; return nil },
		// Ruby's run(id, format: "pdf"): one positional argument. DecodeArgs
		// with one destination refuses a second, as Ruby 3 did.
		"Reports::Build": func(j *Job) error {
			seen[j.ID] = &goldenSeen{ran: true}
			var id json.Number
			if err := j.DecodeArgs(&id); err != nil {
				return fmt.Errorf("ArgumentError: %w", err)
			}
			return nil
		},
	}
	rows := readGoldenLines[goldenWorked](t, "worked.jsonl")
	for i, g := range rows {
		queue := fmt.Sprintf("%s_%02d", q, i)
		var id int64
		err := testDB.QueryRow(`INSERT INTO que_jobs (queue, job_class, args) VALUES ($1, $2, $3::text::json) RETURNING job_id`,
			queue, g.JobClass, g.Args).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		w := NewWorker(c, m)
		w.Queue = queue
		if !w.WorkOne() {
			t.Fatalf("%s %s: WorkOne found nothing", g.JobClass, g.Args)
		}
		st := goldenRead(t, id)
		if st.Found != g.RowKept {
			t.Fatalf("%s %s: row kept = %v, Ruby kept it = %v (%+v)", g.JobClass, g.Args, st.Found, g.RowKept, st)
		}
		_, known := m[g.JobClass]
		switch g.Event {
		case "job_worked":
			if !known {
				t.Fatalf("%s worked in Ruby but is not in the WorkMap", g.JobClass)
			}
			goldenCompareReceived(t, g, seen[id])
		case "job_errored":
			if st.ErrorCount != g.ErrorCount || st.ErrorCount != 1 {
				t.Fatalf("%s %s: error_count %d, Ruby %d", g.JobClass, g.Args, st.ErrorCount, g.ErrorCount)
			}
			if math.Abs(st.RunAtFromNow-g.RunAtMinusFailureS) > 2 {
				t.Fatalf("%s: run_at - now() = %.2fs, Ruby %.0fs", g.JobClass, st.RunAtFromNow, g.RunAtMinusFailureS)
			}
			if !st.LastError.Valid || st.LastError.String == "" {
				t.Fatalf("%s: no last_error", g.JobClass)
			}
			if !known && !strings.Contains(st.LastError.String, g.JobClass) {
				t.Fatalf("%s: last_error %q does not name the type", g.JobClass, st.LastError.String)
			}
			if !known && seen[id] != nil {
				t.Fatalf("%s: a WorkFunc ran for an unknown type", g.JobClass)
			}
			if st.Args != g.Args {
				t.Fatalf("%s: args changed to %q", g.JobClass, st.Args)
			}
		default:
			t.Fatalf("unknown event %q", g.Event)
		}
	}
}

// goldenCompareReceived checks that a Go WorkFunc received what Ruby's run
// received, where the two are comparable: an array's positional args.
func goldenCompareReceived(t *testing.T, g goldenWorked, s *goldenSeen) {
	t.Helper()
	if s == nil || !s.ran {
		t.Fatalf("%s %s: WorkFunc did not run", g.JobClass, g.Args)
	}
	if g.JobClass == "Que::Job" || g.JobClass == "Reports::Build" {
		return // Que::Job's run is empty; Reports::Build takes keywords
	}
	isArray := strings.HasPrefix(strings.TrimSpace(g.Args), "[")
	if s.notArray == isArray {
		t.Fatalf("%s: DecodeArgs said not-an-array = %v", g.Args, s.notArray)
	}
	if !isArray {
		return // Ruby splats objects and scalars; Go producers write arrays
	}
	var got []string
	for _, v := range s.vals {
		got = append(got, rubyClass(v))
	}
	if len(got) != len(g.RunReceivedClasses) || (len(got) > 0 && !reflect.DeepEqual(got, g.RunReceivedClasses)) {
		t.Fatalf("%s: Go saw %v, Ruby's run got %v (%s)", g.Args, got, g.RunReceivedClasses, g.RunReceived)
	}
	switch g.Args {
	case `[{"a":1,"a":2}]`: // a duplicate key keeps its last value
		if s.vals[0].(map[string]any)["a"] != json.Number("2") {
			t.Fatalf("duplicate key decoded as %#v", s.vals[0])
		}
	case `["\u00e9\ud83c\udf89\n"]`:
		if s.vals[0] != "é🎉\n" {
			t.Fatalf("escapes decoded as %q", s.vals[0])
		}
	}
	if strings.HasPrefix(g.Args, "[9007199254740993,") && s.vals[0] != json.Number("9007199254740993") {
		t.Fatalf("2^53+1 decoded as %#v", s.vals[0])
	}
}

// TestRubyInteropBackoffMatchesRuby fails one job three times, as Ruby's
// Billing::Refund failed, and checks error_count and run_at after each
// failure are Ruby's (4, 19, 84 s), that the job keeps its job_id, and that
// each Ruby-written last_error is read back exactly on the next lock.
func TestRubyInteropBackoffMatchesRuby(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	var chain []goldenFailed
	for _, g := range readGoldenLines[goldenFailed](t, "failed.jsonl") {
		if g.Ruby == `Billing::Refund.enqueue("plain", 99)` {
			chain = append(chain, g)
		}
	}
	if len(chain) != 3 {
		t.Fatalf("want the 3 failures of one job in failed.jsonl, found %d", len(chain))
	}
	id := goldenInsert(t, goldenRow{Queue: q, JobClass: "Billing::Refund", Args: `["plain",99]`})
	for k, g := range chain {
		if g.Failures != k+1 || g.ErrorCount != int32(k+1) {
			t.Fatalf("golden row %d: failures %d, error_count %d", k, g.Failures, g.ErrorCount)
		}
		if k > 0 { // the wait for the backoff, shortened
			if _, err := testDB.Exec(`UPDATE que_jobs SET run_at = now() WHERE job_id = $1`, id); err != nil {
				t.Fatal(err)
			}
		}
		j := mustLock(t, c, q)
		if j.ID != id || j.ErrorCount != int32(k) {
			j.Done()
			t.Fatalf("failure %d: locked job %d with error_count %d", k+1, j.ID, j.ErrorCount)
		}
		if k > 0 && (!j.LastError.Valid || j.LastError.String != chain[k-1].LastError) {
			j.Done()
			t.Fatalf("failure %d: LastError %q, want Ruby's %q", k+1, j.LastError.String, chain[k-1].LastError)
		}
		err := j.Error(g.LastError)
		j.Done()
		if err != nil {
			t.Fatal(err)
		}
		if j.ErrorCount != g.ErrorCount {
			t.Fatalf("failure %d: Job.ErrorCount %d, Ruby %d", k+1, j.ErrorCount, g.ErrorCount)
		}
		st := goldenRead(t, id)
		if !st.Found || st.ErrorCount != g.ErrorCount || st.LastError.String != g.LastError {
			t.Fatalf("failure %d: row %+v, want error_count %d and Ruby's last_error", k+1, st, g.ErrorCount)
		}
		if math.Abs(st.RunAtFromNow-g.RunAtMinusFailureS) > 2 {
			t.Fatalf("failure %d: run_at - now() = %.2fs, Ruby %.0fs", k+1, st.RunAtFromNow, g.RunAtMinusFailureS)
		}
		if Backoff(int(g.ErrorCount)) != time.Duration(g.RunAtMinusFailureS)*time.Second {
			t.Fatalf("Backoff(%d) = %v, Ruby waited %.0fs", g.ErrorCount, Backoff(int(g.ErrorCount)), g.RunAtMinusFailureS)
		}
	}
}

// TestRubyInteropBackoffAfter24Failures replays Ruby's raw row at
// error_count 24: one more failure makes it 25 with a 390628 s backoff.
func TestRubyInteropBackoffAfter24Failures(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	var g *goldenFailed
	for _, row := range readGoldenLines[goldenFailed](t, "failed.jsonl") {
		if row.Inserted != "" {
			g = &row
		}
	}
	if g == nil || g.ErrorCount != 25 {
		t.Fatalf("failed.jsonl lacks the raw row at error_count 24: %+v", g)
	}
	id := goldenInsert(t, goldenRow{Queue: q, JobClass: "Billing::Refund", Args: `["plain"]`, ErrorCount: g.ErrorCount - 1})
	j := mustLock(t, c, q)
	err := j.Error(g.LastError)
	j.Done()
	if err != nil {
		t.Fatal(err)
	}
	st := goldenRead(t, id)
	if !st.Found || st.ErrorCount != 25 || j.ErrorCount != 25 || st.LastError.String != g.LastError {
		t.Fatalf("after failure: row %+v, Job.ErrorCount %d", st, j.ErrorCount)
	}
	if math.Abs(st.RunAtFromNow-g.RunAtMinusFailureS) > 2 {
		t.Fatalf("run_at - now() = %.2fs, Ruby %.0fs", st.RunAtFromNow, g.RunAtMinusFailureS)
	}
}

// TestRubyInteropLastErrorReadBackExactly inserts every failure Ruby
// recorded, multi-line backtraces and the 500-character é message included,
// and checks LockJob reads last_error back byte for byte. qg itself stores a
// message whole: Ruby's 500-character cap is Ruby's formatting, not the
// table's.
func TestRubyInteropLastErrorReadBackExactly(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	for i, g := range readGoldenLines[goldenFailed](t, "failed.jsonl") {
		queue := fmt.Sprintf("%s_%02d", q, i)
		lastError := g.LastError
		id := goldenInsert(t, goldenRow{Queue: queue, JobClass: "Billing::Refund", Args: `["x"]`,
			ErrorCount: g.ErrorCount, LastError: &lastError})
		j := mustLock(t, c, queue)
		got := j.LastError
		if !got.Valid || got.String != g.LastError || j.ErrorCount != g.ErrorCount || j.ID != id {
			j.Done()
			t.Fatalf("row %d: LastError %q (valid %v), error_count %d; want Ruby's %q, %d",
				i, got.String, got.Valid, j.ErrorCount, g.LastError, g.ErrorCount)
		}
		first, _, _ := strings.Cut(got.String, "\n")
		if n := strings.Count(got.String, "\n") + 1; n != g.LastErrorLineCount {
			t.Errorf("row %d: %d lines, Ruby wrote %d", i, n, g.LastErrorLineCount)
		}
		// The message's first line (the multiline one's is its first line of two).
		if utf8.RuneCountInString(first) != g.FirstLineChars || len(first) != g.FirstLineBytes {
			t.Errorf("row %d: first line %d chars %d bytes, Ruby %d and %d",
				i, utf8.RuneCountInString(first), len(first), g.FirstLineChars, g.FirstLineBytes)
		}

		// qg writes past Ruby's cap: 600 é and the backtrace, whole.
		long := "RuntimeError: " + strings.Repeat("é", 600) + "\n" + strings.SplitN(g.LastError, "\n", 2)[1]
		err := j.Error(long)
		j.Done()
		if err != nil {
			t.Fatal(err)
		}
		if st := goldenRead(t, id); st.LastError.String != long || st.ErrorCount != g.ErrorCount+1 {
			t.Fatalf("row %d: stored %d bytes, error_count %d; want %d bytes whole, %d",
				i, len(st.LastError.String), st.ErrorCount, len(long), g.ErrorCount+1)
		}
	}
}

// TestRubyInteropRawRowsRoundTrip writes jobs by raw SQL the way Ruby writes
// them (namespaced classes, raw unicode and U+2028, Ruby's float text, null,
// nested objects) and works them with WorkFuncs that decode typed arguments.
func TestRubyInteropRawRowsRoundTrip(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	type charge struct {
		ID     int64
		Note   string
		Big    float64
		NegZ   float64
		Coupon *string
		Opts   map[string]any
	}
	var got []charge
	var refunds []json.Number
	m := WorkMap{
		"Billing::ChargeCard": func(j *Job) error {
			var ch charge
			ch.Coupon = new(string)
			if err := j.DecodeArgs(&ch.ID, &ch.Note, &ch.Big, &ch.NegZ, &ch.Coupon, &ch.Opts); err != nil {
				return err
			}
			got = append(got, ch)
			// The job's own writes share its transaction.
			var echo string
			if err := j.Tx().QueryRow(`SELECT $1::text`, ch.Note).Scan(&echo); err != nil {
				return err
			}
			if echo != ch.Note {
				return fmt.Errorf("echo %q", echo)
			}
			return nil
		},
		"Billing::Refund::Partial": func(j *Job) error {
			var amount json.Number
			var ids []json.Number
			if err := j.DecodeArgs(&amount, &ids); err != nil {
				return err
			}
			refunds = append(refunds, amount)
			refunds = append(refunds, ids...)
			return nil
		},
	}
	note := "x\u2028y \u2029 héllo ✓ 日本語 🎉 \"q\" \\ /"
	rows := []goldenRow{
		{Queue: q, JobClass: "Billing::ChargeCard",
			Args: `[42,"x` + "\u2028" + `y ` + "\u2029" + ` héllo ✓ 日本語 🎉 \"q\" \\ /",1.0e+100,-0.0,null,{"amount":1.5,"nested":{"deep":[1,{"x":"y"}],"empty":{}},"big":18446744073709551616}]`},
		{Queue: q, JobClass: "Billing::Refund::Partial", Args: `[12345678901234567890123,[9007199254740993,-9223372036854775808]]`},
	}
	var ids []int64
	for _, r := range rows {
		ids = append(ids, goldenInsert(t, r))
	}
	var held []*Job
	for i, id := range ids {
		j := mustLock(t, c, q)
		held = append(held, j)
		if j.ID != id || !bytes.Equal(j.Args, []byte(rows[i].Args)) || j.Type != rows[i].JobClass {
			t.Errorf("locked %d %q %s; want %d %q %s", j.ID, j.Type, j.Args, id, rows[i].JobClass, rows[i].Args)
		}
	}
	for _, j := range held {
		j.Done() // released untouched, for the Worker
	}
	if t.Failed() {
		t.FailNow()
	}
	w := NewWorker(c, m)
	w.Queue = q
	for range rows {
		if !w.WorkOne() {
			t.Fatal("WorkOne found nothing")
		}
	}
	if n := countJobs(t, q); n != 0 {
		var lastErr sql.NullString
		_ = testDB.QueryRow(`SELECT last_error FROM que_jobs WHERE queue = $1 LIMIT 1`, q).Scan(&lastErr)
		t.Fatalf("%d jobs left: %s", n, lastErr.String)
	}
	if len(got) != 1 {
		t.Fatalf("ChargeCard ran %d times", len(got))
	}
	ch := got[0]
	if ch.ID != 42 || ch.Note != note || ch.Big != 1e100 || ch.NegZ != 0 || !math.Signbit(ch.NegZ) || ch.Coupon != nil {
		t.Fatalf("decoded %+v", ch)
	}
	nested, _ := ch.Opts["nested"].(map[string]any)
	deep, _ := nested["deep"].([]any)
	if ch.Opts["amount"] != json.Number("1.5") || ch.Opts["big"] != json.Number("18446744073709551616") ||
		len(deep) != 2 || deep[0] != json.Number("1") || !reflect.DeepEqual(deep[1], map[string]any{"x": "y"}) ||
		!reflect.DeepEqual(nested["empty"], map[string]any{}) {
		t.Fatalf("options decoded as %#v", ch.Opts)
	}
	want := []json.Number{"12345678901234567890123", "9007199254740993", "-9223372036854775808"}
	if !reflect.DeepEqual(refunds, want) {
		t.Fatalf("refund numbers %v, want %v", refunds, want)
	}
}
