package qg

import (
	"encoding/json"
	"errors"
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
