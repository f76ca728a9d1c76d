package qg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DecodeArgs decodes the job's args, a JSON array as Ruby Que writes it, one
// element into each of dst in order, like a Ruby job's run(*args). Numbers
// decoded into an interface value become [json.Number], so integers beyond
// 2^53 (which Ruby writes exactly) keep every digit. Fewer elements than dst
// leave the rest untouched; more elements than dst are an error, as a wrong
// number of arguments is in Ruby. A nil dst skips its element.
func (j *Job) DecodeArgs(dst ...any) error {
	elems, err := splitArgs(j.Args)
	if err != nil {
		return fmt.Errorf("qg: decode args of job %d: %w", j.ID, err)
	}
	if len(elems) > len(dst) {
		return fmt.Errorf("qg: decode args of job %d: %d args, want at most %d", j.ID, len(elems), len(dst))
	}
	for i, raw := range elems {
		if dst[i] == nil {
			continue
		}
		if err := decodeNumber(raw, dst[i]); err != nil {
			return fmt.Errorf("qg: decode arg %d of job %d: %w", i, j.ID, err)
		}
	}
	return nil
}

// splitArgs splits a JSON array into its raw elements. Empty args are an
// empty array.
func splitArgs(args []byte) ([]json.RawMessage, error) {
	trimmed := bytes.Trim(args, " \t\r\n") // JSON's own whitespace only
	if len(trimmed) == 0 {
		return nil, nil
	}
	if trimmed[0] == '{' {
		return nil, fmt.Errorf("%w: they are an object (%.40q): DecodeArgs reads Ruby Que's "+
			"positional array; decode an object with json.Unmarshal(j.Args, &v), and enqueue "+
			"jobs for Ruby as arrays (Args(v...)), since a Ruby worker gets an object as [key, value] pairs",
			ErrArgsNotArray, trimmed)
	}
	if trimmed[0] != '[' {
		return nil, fmt.Errorf("%w: %.40q", ErrArgsNotArray, trimmed)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(trimmed, &elems); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgs, err)
	}
	return elems, nil
}

// decodeNumber unmarshals raw into dst with json.Number for numbers.
func decodeNumber(raw json.RawMessage, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

// Args builds a job's args as Ruby Que writes them: a JSON array with one
// element per value, in order, so a Ruby worker's run(*args) gets them as
// its positional arguments and [Job.DecodeArgs] reads them back. Each value
// is encoded with encoding/json (int64 and uint64 keep every digit); a
// [json.RawMessage] is put in as is. No value gives []. It returns an error
// wrapping [ErrInvalidArgs] for a value JSON cannot hold (a channel, NaN).
//
//	args, err := qg.Args(42, "sale", map[string]any{"coupon": "X1"}) // [42,"sale",{"coupon":"X1"}]
func Args(values ...any) ([]byte, error) {
	if values == nil {
		values = []any{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" stays "<", as Ruby's JSON writes it
	if err := enc.Encode(values); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgs, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// MustArgs is [Args] for values known to encode (numbers, strings, maps and
// slices of them): it panics where Args returns an error. It suits a Job
// literal: &qg.Job{Type: "SendEmail", Args: qg.MustArgs(userID, "welcome")}.
func MustArgs(values ...any) []byte {
	args, err := Args(values...)
	if err != nil {
		panic(err)
	}
	return args
}
