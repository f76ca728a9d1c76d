package qg

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestUniqueKeyLoneSurrogates: JSON allows lone UTF-16 surrogate escapes,
// and encoding/json reads each as U+FFFD. Three different args must stay
// three different jobs, and a repeat of one of them a duplicate.
func TestUniqueKeyLoneSurrogates(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	var ids []int64
	for _, args := range []string{`["\ud800"]`, `["\udbff"]`, `["\ufffd"]`, `["\ud800\udc00"]`, `["\ud800\u0041"]`} {
		j := uqEnqueue(t, c, &Job{Type: "Surrogate", Queue: q, Args: []byte(args), Unique: true})
		uqWant(t, j, 0, ids...)
		ids = append(ids, j.ID)
	}
	again := uqEnqueue(t, c, &Job{Type: "Surrogate", Queue: q, Args: []byte(`[ "\uD800" ]`), Unique: true})
	uqWant(t, again, ids[0])
}

// TestUniqueKeySharedJobID: another producer may give a row the job_id of a
// unique job (Que 0.x's key is the whole primary key). Deleting that other
// row, or giving it up, must leave the unique job's key taken.
func TestUniqueKeySharedJobID(t *testing.T) {
	t.Parallel()
	c, q := uqSetup(t)
	j := uqEnqueue(t, c, &Job{Type: "Owner", Queue: q, Args: []byte(`[1]`), Unique: true})
	uqWant(t, j, 0)
	for _, other := range []string{
		`INSERT INTO que_jobs (queue, priority, job_id, job_class) VALUES ($1, 5, $2, 'Other')`,
		`INSERT INTO que_jobs (queue, priority, job_id, job_class, args) VALUES ($1 || '_b', 100, $2, 'Owner', '[1]')`,
		`INSERT INTO que_jobs (queue, priority, job_id, job_class, args) VALUES ($1, 100, $2, 'Owner', '[2]')`,
	} {
		if _, err := testDB.Exec(other, q, j.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := testDB.Exec(`UPDATE que_jobs SET queue = 'qg:dead:' || queue
WHERE job_id = $1 AND NOT (queue = $2 AND job_class = 'Owner' AND args::text = '[1]')`, j.ID, q); err != nil {
			t.Fatal(err)
		}
		if _, err := testDB.Exec(`DELETE FROM que_jobs
WHERE job_id = $1 AND NOT (queue = $2 AND job_class = 'Owner' AND args::text = '[1]')`, j.ID, q); err != nil {
			t.Fatal(err)
		}
		dup := uqEnqueue(t, c, &Job{Type: "Owner", Queue: q, Args: []byte(`[1]`), Unique: true})
		uqWant(t, dup, j.ID)
	}
	uqRubyWork(t, j.ID)
	uqWant(t, uqEnqueue(t, c, &Job{Type: "Owner", Queue: q, Args: []byte(`[1]`), Unique: true}), 0, j.ID)
}

// decodedCanonical is the canonical form of earlier versions: decoded by
// encoding/json, written back by it. Keys taken by them must not change.
func decodedCanonical(raw []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// FuzzCanonicalJSON checks that the canonical form of any JSON without a
// lone surrogate escape is the one earlier versions wrote (so their keys
// still match), that it is valid JSON and its own canonical form.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`[1, "two", {"k": 3, "a": [true, null]}]`, `{"b":1,"a":2,"b":3}`,
		`"<&>\u2028\t\u0001"`, `["\ud83d\ude00", "\ud800", "\udfff\ud800"]`, ` [ 1.0e5 , -0 ] `, `{"\ud800":1,"\ufffd":2}`,
		"[\"\xff\"]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := canonicalJSON(raw)
		if !json.Valid(raw) {
			if err == nil {
				t.Fatalf("canonicalJSON(%q) accepted invalid JSON", raw)
			}
			return
		}
		if err != nil {
			t.Fatalf("canonicalJSON(%q): %v", raw, err)
		}
		if !json.Valid(got) {
			t.Fatalf("canonicalJSON(%q) = %q, not JSON", raw, got)
		}
		again, err := canonicalJSON(got)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("canonicalJSON(%q) = %q, but of that: %q, %v", raw, got, again, err)
		}
		if hasLoneSurrogate(raw) {
			return
		}
		want, err := decodedCanonical(raw)
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("canonicalJSON(%q) = %q, earlier versions wrote %q", raw, got, want)
		}
	})
}

// hasLoneSurrogate reports whether raw may hold a surrogate escape that is
// not part of a pair (it also says true for some pairs, which only skips
// the comparison).
func hasLoneSurrogate(raw []byte) bool {
	s := strings.ToLower(string(raw))
	return strings.Contains(s, `\ud`)
}
