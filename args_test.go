package qg

import (
	"encoding/json"
	"errors"
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
