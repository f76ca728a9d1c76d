package qg

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// jsonSpace is JSON's whitespace, the only whitespace PostgreSQL's json type
// accepts around a value.
const jsonSpace = " \t\r\n"

// fuzzArgsSeeds are args as Ruby Que wrote or read them, plus edge cases.
func fuzzArgsSeeds(tb testing.TB) []string {
	seeds := []string{
		``, ` `, `[]`, `[1]`, `{"a":1}`, `42`, `"s"`, `null`, `true`, `[`, `[1,`, `[1,]`, `[1] [2]`,
		` [ 1 ,` + "\n\t" + `2 ] `, `["\u0000"]`, `["\ud800"]`, "[\"\xff\"]", "[\"\u2028\"]",
		`[1e400,-0,-0.0,1.0e+100,1.0e-07]`, `[18446744073709551616,-9223372036854775808]`,
		`[[[[[]]]]]`, `[{"a":1,"a":2}]`, `[NaN]`, `[01]`, "\v[1]", "[1]\x00",
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	}
	for _, g := range readGoldenLines[goldenEnqueued](tb, "enqueued.jsonl") {
		if g.written() {
			seeds = append(seeds, g.Args)
		}
	}
	for _, g := range readGoldenLines[goldenWorked](tb, "worked.jsonl") {
		seeds = append(seeds, g.Args)
	}
	return seeds
}

// fuzzNoFloats reports whether v, decoded by DecodeArgs, holds every number
// as a json.Number (never a rounded float64).
func fuzzNoFloats(v any) bool {
	switch v := v.(type) {
	case float64, float32:
		return false
	case []any:
		for _, e := range v {
			if !fuzzNoFloats(e) {
				return false
			}
		}
	case map[string]any:
		for _, e := range v {
			if !fuzzNoFloats(e) {
				return false
			}
		}
	}
	return true
}

// FuzzDecodeArgs checks DecodeArgs on any args text: it never panics; a JSON
// array decodes with one destination per element (exactly, numbers as
// json.Number) and one fewer is an error; other JSON is ErrArgsNotArray;
// text that is not JSON is an error; empty args are [].
func FuzzDecodeArgs(f *testing.F) {
	for _, s := range fuzzArgsSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		j := &Job{ID: 1, Args: data}
		var one any
		errOne := j.DecodeArgs(&one)
		errNone := j.DecodeArgs()
		trimmed := bytes.Trim(data, jsonSpace)
		switch {
		case len(trimmed) == 0:
			if errOne != nil || errNone != nil || one != nil {
				t.Fatalf("empty args %q: %v, %v, %#v", data, errOne, errNone, one)
			}
		case !json.Valid(data):
			if errOne == nil || errNone == nil {
				t.Fatalf("invalid JSON %q decoded: %v, %v", data, errOne, errNone)
			}
			if !errors.Is(errOne, ErrInvalidArgs) && !errors.Is(errOne, ErrArgsNotArray) {
				t.Fatalf("invalid JSON %q: %v, want ErrInvalidArgs or ErrArgsNotArray", data, errOne)
			}
			if trimmed[0] == '[' && !errors.Is(errOne, ErrInvalidArgs) {
				t.Fatalf("invalid array %q: %v, want ErrInvalidArgs", data, errOne)
			}
		case trimmed[0] != '[':
			if !errors.Is(errOne, ErrArgsNotArray) || !errors.Is(errNone, ErrArgsNotArray) {
				t.Fatalf("non-array %q: %v, %v; want ErrArgsNotArray", data, errOne, errNone)
			}
		default:
			fuzzCheckArray(t, j)
		}
	})
}

// fuzzCheckArray checks DecodeArgs on a valid JSON array.
func fuzzCheckArray(t *testing.T, j *Job) {
	var elems []json.RawMessage
	if err := json.Unmarshal(j.Args, &elems); err != nil {
		t.Fatalf("valid array %q: %v", j.Args, err)
	}
	vals, err := decodeAll(j, len(elems))
	if err != nil {
		t.Fatalf("%q into %d destinations: %v", j.Args, len(elems), err)
	}
	if err := j.DecodeArgs(make([]any, len(elems)+1)...); err != nil {
		t.Fatalf("%q into nil destinations: %v", j.Args, err)
	}
	if len(elems) > 0 {
		if _, err := decodeAll(j, len(elems)-1); err == nil {
			t.Fatalf("%q: %d args into %d destinations: no error", j.Args, len(elems), len(elems)-1)
		}
	}
	raws := make([]json.RawMessage, len(elems))
	dst := make([]any, len(elems))
	for i := range raws {
		dst[i] = &raws[i]
	}
	if err := j.DecodeArgs(dst...); err != nil {
		t.Fatalf("%q into RawMessages: %v", j.Args, err)
	}
	for i, raw := range elems {
		if !bytes.Equal(raws[i], raw) {
			t.Fatalf("%q: element %d as RawMessage %q, want %q", j.Args, i, raws[i], raw)
		}
		if !fuzzNoFloats(vals[i]) {
			t.Fatalf("%q: element %d decoded with a float64: %#v", j.Args, i, vals[i])
		}
		if n, ok := vals[i].(json.Number); ok && n.String() != string(raw) {
			t.Fatalf("%q: number %s decoded as %s", j.Args, raw, n)
		}
		var want any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(vals[i], want) {
			t.Fatalf("%q: element %d decoded as %#v, want %#v", j.Args, i, vals[i], want)
		}
	}
}

// FuzzParseWakeInterval checks QUE_WAKE_INTERVAL parsing: it never panics, an
// accepted value is a positive duration of at most a day equal to the seconds
// written, and a number of seconds in (0, 86400] that is at least 1 ns is
// accepted.
func FuzzParseWakeInterval(f *testing.F) {
	for _, s := range []string{"1", "0.5", "5", " 2 ", "\t3\n", "0", "-1", "-0", "86400", "86400.000001",
		"86399.9999999999", "1e-9", "1e-10", "0.0000000015", "NaN", "nan", "Inf", "+Inf", "-Inf", "1e308",
		"0x1p-2", "0x1P+4", "1_000", "", " ", "abc", "1s", "5m", "1,5", "1.5.", "+7", ".5", "5.", "1e3",
		"9223372036.854775807", "\u00a01", "1\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseWakeInterval(s)
		fl, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if !ok {
			if d != 0 {
				t.Fatalf("parseWakeInterval(%q) = %v, false", s, d)
			}
			if err == nil && fl > 0 && fl <= 86400 && fl*1e9 >= 1 {
				t.Fatalf("parseWakeInterval(%q) refused %v seconds", s, fl)
			}
			return
		}
		if d <= 0 || d > 24*time.Hour {
			t.Fatalf("parseWakeInterval(%q) = %v, out of (0, 24h]", s, d)
		}
		if err != nil {
			t.Fatalf("parseWakeInterval(%q) accepted a value that is not a number: %v", s, err)
		}
		if math.Abs(float64(d)-fl*1e9) > 2 {
			t.Fatalf("parseWakeInterval(%q) = %v, want %v seconds", s, d, fl)
		}
	})
}

// FuzzValidateJob checks enqueue's validation: it never panics; it returns
// ErrMissingType (unwrapped) exactly when Type is empty; otherwise it accepts
// exactly empty or valid JSON args and wraps ErrInvalidArgs for the rest,
// after refusing a Type no text column can hold with ErrInvalidText.
func FuzzValidateJob(f *testing.F) {
	for _, s := range fuzzArgsSeeds(f) {
		f.Add("SendEmail", []byte(s))
	}
	for _, g := range readGoldenLines[goldenEnqueued](f, "enqueued.jsonl") {
		f.Add(g.JobClass, []byte(g.Args))
	}
	for _, g := range readGoldenLines[goldenWorked](f, "worked.jsonl") {
		f.Add(g.JobClass, []byte(g.Args))
	}
	f.Add("", []byte(`[1]`))
	f.Add("", []byte(`not json`))
	f.Add("", []byte(nil))
	f.Add("x", []byte(nil))
	f.Add("\x00\xff", []byte(`[`))
	if validateJob(nil) == nil {
		f.Fatal("validateJob(nil) = nil")
	}
	f.Fuzz(func(t *testing.T, typ string, args []byte) {
		j := &Job{Type: typ, Args: args}
		err := validateJob(j)
		if (err == ErrMissingType) != (typ == "") {
			t.Fatalf("validateJob(Type %q) = %v", typ, err)
		}
		if typ == "" {
			return
		}
		if !utf8.ValidString(typ) || strings.ContainsRune(typ, 0) {
			if !errors.Is(err, ErrInvalidText) {
				t.Fatalf("validateJob(Type %q) = %v, want ErrInvalidText", typ, err)
			}
			return
		}
		valid := len(args) == 0 || json.Valid(args)
		if (err == nil) != valid {
			t.Fatalf("validateJob(%q, %q) = %v; args valid: %v", typ, args, err, valid)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidArgs) {
				t.Fatalf("validateJob(%q, %q) = %v, want ErrInvalidArgs", typ, args, err)
			}
			return
		}
		want := string(args)
		if len(args) == 0 {
			want = "[]"
		}
		if got := jobArgs(j); got != want {
			t.Fatalf("jobArgs = %q, want %q", got, want)
		}
	})
}

// FuzzCleanText checks what Job.Error stores in last_error: valid UTF-8
// without NUL, unchanged when msg already was, and stable when cleaned again.
func FuzzCleanText(f *testing.F) {
	for _, g := range readGoldenLines[goldenFailed](f, "failed.jsonl") {
		f.Add(g.LastError)
	}
	for _, s := range []string{"", "plain", "nul \x00", "bad \xff\xfe", "cut \xe2\x9c", "\uFFFD", "\x00\x00", "é\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		got := cleanText(msg)
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Fatalf("cleanText(%q) = %q", msg, got)
		}
		if utf8.ValidString(msg) && !strings.ContainsRune(msg, 0) && got != msg {
			t.Fatalf("cleanText changed clean text %q to %q", msg, got)
		}
		if cleanText(got) != got {
			t.Fatalf("cleanText not stable on %q", got)
		}
	})
}
