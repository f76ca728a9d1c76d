package qg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// How a job goes into the Que 2.x table: the row Ruby Que 2's enqueue
// writes (testdata/ruby-que-2.4.1/enqueued.jsonl), so Ruby works it.

const (
	// que2InsertJob enqueues one job: job_schema_version $8, an empty
	// queue is 'default', NULL priority and run_at take the defaults.
	que2InsertJob = `/* qg:que2_insert_job */ INSERT INTO public.que_jobs
  (queue, priority, run_at, job_class, args, kwargs, data, job_schema_version)
VALUES (coalesce(nullif($1::text, ''), 'default'), coalesce($2::smallint, 100),
  coalesce($3::timestamptz, now()), $4::text, $5::jsonb, $6::jsonb, $7::jsonb, $8::integer)
RETURNING id, priority, run_at`

	// que2InsertJobs enqueues many from column arrays, in order, with the
	// defaults of que2InsertJob (a zero priority and an empty run_at too).
	que2InsertJobs = `/* qg:que2_insert_jobs */ INSERT INTO public.que_jobs
  (queue, priority, run_at, job_class, args, kwargs, data, job_schema_version)
SELECT coalesce(nullif(queue, ''), 'default'), coalesce(nullif(priority, 0), 100),
  CASE kind WHEN '' THEN run_at WHEN 'now' THEN now() ELSE kind::timestamptz END,
  job_class, args::jsonb, kwargs::jsonb, data::jsonb, $9::integer
FROM unnest($1::text[], $2::smallint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
  WITH ORDINALITY AS batch (queue, priority, run_at, job_class, args, kind, kwargs, data, n)
ORDER BY n
RETURNING id, priority, run_at`
)

func (d que2Table) insertJob(j *Job) (string, []any) {
	var priority, runAt any // NULL: the column's default
	if j.Priority != 0 {
		priority = j.Priority
	}
	if !j.RunAt.IsZero() {
		runAt = runAtValue(j.RunAt)
	}
	return que2InsertJob, []any{j.Queue, priority, runAt, j.Type, jobArgs(j), jobKwargs(j),
		jobData(j), d.jobSchemaVersion}
}

func (d que2Table) insertJobs(jobs []*Job) (string, []any) {
	queues, priorities, runAts, types, args, kinds := batchColumns(jobs)
	kwargs := make([]string, len(jobs))
	data := make([]string, len(jobs))
	for i, j := range jobs {
		kwargs[i], data[i] = jobKwargs(j), jobData(j)
	}
	return que2InsertJobs, []any{queues, priorities, runAts, types, args, kinds, kwargs, data, d.jobSchemaVersion}
}

// jobKwargs is the JSON text to store for j.Kwargs: {} when empty.
func jobKwargs(j *Job) string {
	if len(bytes.TrimSpace(j.Kwargs)) == 0 {
		return "{}"
	}
	return string(j.Kwargs)
}

// jobData is the JSON text to store for j.Data with j.Tags in its "tags"
// key: {} when both are empty. checkJob has validated both.
func jobData(j *Job) string {
	if len(j.Tags) == 0 {
		if len(bytes.TrimSpace(j.Data)) == 0 {
			return "{}"
		}
		return string(j.Data)
	}
	data := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(j.Data)) > 0 {
		_ = json.Unmarshal(j.Data, &data) // checked to be an object
	}
	tags, _ := json.Marshal(j.Tags)
	data["tags"] = tags
	out, _ := json.Marshal(data)
	return string(out)
}

// Que 2's limits on tags: Ruby refuses more than que2MaxTags, and the
// table's valid_data check a tag whose JSON text (quotes and escapes
// included) is longer than que2MaxTagText characters.
const (
	que2MaxTags    = 5
	que2MaxTagText = 100
)

// checkJob refuses, before any SQL runs, what Ruby Que 2 or its table would:
// args that are not an array, kwargs or data that are not an object, tags
// beyond Que 2's limits, or tags both in Tags and in Data.
func (que2Table) checkJob(j *Job) error {
	if err := jsonKind(j.Args, '[', "args", "an array"); err != nil {
		return err
	}
	if err := jsonKind(j.Kwargs, '{', "kwargs", "an object"); err != nil {
		return err
	}
	if err := jsonKind(j.Data, '{', "data", "an object"); err != nil {
		return err
	}
	if len(j.Tags) == 0 {
		return nil
	}
	if len(bytes.TrimSpace(j.Data)) > 0 {
		var data map[string]json.RawMessage
		if err := json.Unmarshal(j.Data, &data); err == nil {
			if _, ok := data["tags"]; ok {
				return fmt.Errorf("%w: %s job has Tags and a \"tags\" key in Data; set one", ErrInvalidTags, j.Type)
			}
		}
	}
	return checkTags(j.Type, j.Tags)
}

// checkTags applies Que 2's limits to tags.
func checkTags(jobType string, tags []string) error {
	if len(tags) > que2MaxTags {
		return fmt.Errorf("%w: %s job has %d tags, Que 2 takes at most %d", ErrInvalidTags, jobType, len(tags), que2MaxTags)
	}
	for _, tag := range tags {
		if !utf8.ValidString(tag) || strings.ContainsRune(tag, 0) {
			return fmt.Errorf("%w: %s job: tag %.40q is not storable text", ErrInvalidTags, jobType, tag)
		}
		if n := jsonTextLen(tag); n > que2MaxTagText {
			return fmt.Errorf("%w: %s job: tag %.40q is %d characters of JSON text, Que 2 takes at most %d",
				ErrInvalidTags, jobType, tag, n, que2MaxTagText)
		}
	}
	return nil
}

// jsonTextLen is the length in characters of s as PostgreSQL writes it in
// JSON text: quoted, with " and \ and control characters escaped.
func jsonTextLen(s string) int {
	n := 2
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t':
			n += 2
		case r < 0x20:
			n += 6
		default:
			n++
		}
	}
	return n
}

// jsonKind checks that raw, when not empty, is valid JSON whose value opens
// with open ('[' or '{').
func jsonKind(raw []byte, open byte, field, kind string) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil
	}
	if !json.Valid(trimmed) {
		return fmt.Errorf("%w: %s are not valid JSON: %.64q", ErrInvalidArgs, field, trimmed)
	}
	if trimmed[0] != open {
		return fmt.Errorf("%w: on a Ruby Que 2.x table %s must be %s, not %.40q", ErrInvalidArgs, field, kind, trimmed)
	}
	return nil
}

// tagsOf reads data.tags from a job's data column: nil when there are none
// or they are not an array of strings.
func tagsOf(data []byte) []string {
	var d struct {
		Tags []string `json:"tags"`
	}
	if json.Unmarshal(data, &d) != nil || len(d.Tags) == 0 {
		return nil
	}
	return d.Tags
}

// stackMarker starts the stack of a panic's failure text (PanicError puts
// the stack, which debug.Stack begins with "goroutine ", after a blank
// line).
const stackMarker = "\n\ngoroutine "

// splitFailure splits a failure text into Que 2's two columns: the message,
// and the backtrace (a panic's stack) or nil when there is none. The
// statements cut them to the table's limits, by characters.
func splitFailure(msg string) (message string, backtrace any) {
	if i := strings.Index(msg, stackMarker); i >= 0 {
		return msg[:i], msg[i+2:]
	}
	return msg, nil
}
