package qg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestDecodeArgs(t *testing.T) {
	j := &Job{Args: []byte(`[9007199254740993, "héllo", {"k": [1, 2.5]}, null]`)}
	var big json.Number
	var s string
	var obj map[string]any
	if err := j.DecodeArgs(&big, &s, &obj, nil); err != nil {
		t.Fatal(err)
	}
	if big.String() != "9007199254740993" || s != "héllo" {
		t.Fatalf("got %v %q", big, s)
	}
	inner := obj["k"].([]any)
	if inner[1].(json.Number).String() != "2.5" {
		t.Fatalf("nested number decoded as %#v", inner[1])
	}
}

func TestDecodeArgsErrors(t *testing.T) {
	var a, b int
	cases := []struct {
		args string
		want error
	}{
		{`{"a":1}`, ErrArgsNotArray},
		{`42`, ErrArgsNotArray},
		{`[1,`, ErrInvalidArgs},
	}
	for _, tc := range cases {
		err := (&Job{Args: []byte(tc.args)}).DecodeArgs(&a)
		if !errors.Is(err, tc.want) {
			t.Errorf("DecodeArgs(%s) = %v, want %v", tc.args, err, tc.want)
		}
	}
	if err := (&Job{Args: []byte(`[1,2,3]`)}).DecodeArgs(&a, &b); err == nil {
		t.Error("three args into two: no error")
	}
	if err := (&Job{Args: []byte(`["x"]`)}).DecodeArgs(&a); err == nil {
		t.Error("string into int: no error")
	}
	if err := (&Job{}).DecodeArgs(&a); err != nil {
		t.Errorf("empty args: %v", err)
	}
}

func TestArgs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		values []any
		want   string
	}{
		{nil, `[]`},
		{[]any{int64(9007199254740993), "a \"q\" <b>", nil, true}, `[9007199254740993,"a \"q\" <b>",null,true]`},
		{[]any{map[string]any{"k": []int{1, 2}}, json.RawMessage(`{"raw":1}`)}, `[{"k":[1,2]},{"raw":1}]`},
		{[]any{"héllo\u2028"}, `["héllo\u2028"]`},
	} {
		got, err := Args(tc.values...)
		if err != nil || string(got) != tc.want {
			t.Errorf("Args(%v) = %s, %v; want %s", tc.values, got, err, tc.want)
		}
	}
	if _, err := Args(make(chan int)); !errors.Is(err, ErrInvalidArgs) {
		t.Errorf("Args(chan) = %v, want ErrInvalidArgs", err)
	}
	// What Args writes, DecodeArgs reads back, every digit kept.
	j := &Job{Args: MustArgs(uint64(18446744073709551615), "x")}
	var n json.Number
	var s string
	if err := j.DecodeArgs(&n, &s); err != nil || n.String() != "18446744073709551615" || s != "x" {
		t.Errorf("round trip: %v %q %v", n, s, err)
	}
}

func TestDecodeArgsObjectSaysWhatToDo(t *testing.T) {
	t.Parallel()
	var v map[string]any
	err := (&Job{ID: 7, Args: []byte(`{"user": 1}`)}).DecodeArgs(&v)
	if !errors.Is(err, ErrArgsNotArray) {
		t.Fatalf("DecodeArgs(object) = %v, want ErrArgsNotArray", err)
	}
	for _, s := range []string{"object", "json.Unmarshal(j.Args", "Args(v...)", "[key, value] pairs"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
}

func TestMustArgsPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r == nil {
			t.Error("MustArgs(NaN) did not panic")
		}
	}()
	MustArgs(math.NaN())
}

// TestArgsNotArray: valid JSON that is not an array is accepted from
// any producer, DecodeArgs says ErrArgsNotArray, and a WorkFunc returning that
// error leaves the job in place with the message.
func TestArgsNotArray(t *testing.T) {
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
				id = mustRawInsert(t, queue, "NotArray", args)
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
			if !testWorker(c, queue, m).WorkOne() {
				t.Fatalf("%s %s: nothing worked", via, args)
			}
			last := decodeErrs[len(decodeErrs)-1]
			if !errors.Is(last, ErrArgsNotArray) {
				t.Fatalf("%s %s: WorkFunc's DecodeArgs = %v", via, args, last)
			}
			assertErrored(t, id, args, last.Error())
			assertErrored(t, id, args, ErrArgsNotArray.Error())
		}
	}
}

// argsExtremes are valid JSON args at the edges of what PostgreSQL's json
// type stores: each must come back from LockJob byte for byte.
func argsExtremes() map[string]string {
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

// TestArgsExtremes stores deep, large and NUL-carrying args through
// Enqueue and through raw SQL, and reads them back identical.
func TestArgsExtremes(t *testing.T) {
	c, q := setup(t)
	cleanQueues(t, q)
	for name, args := range argsExtremes() {
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
				id = mustRawInsert(t, queue, "Edge", args)
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

// TestArgsPostgresRejects: valid-looking args PostgreSQL refuses give a
// clear error through Enqueue and through raw SQL, and write nothing.
func TestArgsPostgresRejects(t *testing.T) {
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
		if _, err := rawInsert(queue, "Edge", tc.args); err == nil || !strings.Contains(err.Error(), tc.pgErr) {
			t.Fatalf("%s: raw insert gave %v, want %q", tc.name, err, tc.pgErr)
		}
		if n := countJobs(t, queue); n != 0 {
			t.Fatalf("%s: %d rows written", tc.name, n)
		}
	}
}

// TestMalformedArgs: Enqueue refuses args that are not JSON with
// ErrInvalidArgs before any SQL runs, and PostgreSQL refuses them in a raw
// insert: the json column never holds invalid JSON.
func TestMalformedArgs(t *testing.T) {
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
		_, err := rawInsert(q, "Bad", args)
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
