package qg

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ActiveJobWrapper is the job_class of every job Rails' ActiveJob enqueues
// through its Que adapter, on both table generations: the job it runs is
// named inside args[0] (see [ActiveJobData]). A Worker routes such a job to
// the WorkFunc of the wrapped class when its WorkMap has one, and to a
// WorkFunc registered under ActiveJobWrapper itself otherwise.
const ActiveJobWrapper = "ActiveJob::QueueAdapters::QueAdapter::JobWrapper"

// ErrNotActiveJob is wrapped by [Job.ActiveJob] for a job that is not an
// ActiveJob wrapper with a job class in args[0].
var ErrNotActiveJob = errors.New("qg: not an ActiveJob job")

// ActiveJobData is the object ActiveJob's Que adapter stores as the one
// element of args: ActiveJob::Base#serialize of the job. Rails reads it back
// with ActiveJob::Base.execute, which needs job_class and arguments and
// defaults the rest.
type ActiveJobData struct {
	JobClass            string          `json:"job_class"` // the Rails job class, e.g. "WelcomeEmailJob"
	JobID               string          `json:"job_id"`    // ActiveJob's own id, a UUID
	ProviderJobID       *string         `json:"provider_job_id"`
	QueueName           string          `json:"queue_name"`
	Priority            *int            `json:"priority"`
	Arguments           json.RawMessage `json:"arguments"` // a JSON array, in ActiveJob's argument serialization
	Executions          int             `json:"executions"`
	ExceptionExecutions map[string]int  `json:"exception_executions"`
	Locale              string          `json:"locale"`
	Timezone            string          `json:"timezone"`
	EnqueuedAt          string          `json:"enqueued_at"` // ISO 8601, UTC
}

// ActiveJob reads the ActiveJob data of a job Rails enqueued (Type is
// [ActiveJobWrapper]), or returns an error wrapping [ErrNotActiveJob].
func (j *Job) ActiveJob() (*ActiveJobData, error) {
	if j.Type != ActiveJobWrapper {
		return nil, fmt.Errorf("%w: job %d is of class %q", ErrNotActiveJob, j.ID, j.Type)
	}
	elems, err := splitArgs(j.Args)
	if err != nil || len(elems) == 0 {
		return nil, fmt.Errorf("%w: job %d: args[0] is not ActiveJob's data", ErrNotActiveJob, j.ID)
	}
	var d ActiveJobData
	dec := json.NewDecoder(bytes.NewReader(elems[0]))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil || d.JobClass == "" {
		return nil, fmt.Errorf("%w: job %d: args[0] has no job_class", ErrNotActiveJob, j.ID)
	}
	return &d, nil
}

// activeJobClass is the wrapped class of an ActiveJob job, or "".
func activeJobClass(j *Job) string {
	if j.Type != ActiveJobWrapper {
		return ""
	}
	elems, err := splitArgs(j.Args)
	if err != nil || len(elems) == 0 {
		return ""
	}
	var d struct {
		JobClass string `json:"job_class"`
	}
	if json.Unmarshal(elems[0], &d) != nil {
		return ""
	}
	return d.JobClass
}

// workFuncFor finds the WorkFunc of j in m: the one of its Type, or for an
// ActiveJob job the one of the class it wraps, if m has it.
func workFuncFor(m WorkMap, j *Job) (WorkFunc, bool) {
	if class := activeJobClass(j); class != "" {
		if wf, ok := m[class]; ok {
			return wf, true
		}
	}
	wf, ok := m[j.Type]
	return wf, ok
}

// NewActiveJob returns a Job that Rails' ActiveJob runs as a job of class
// (an ActiveJob::Base subclass) with arguments, through ActiveJob's Que
// adapter: Type is [ActiveJobWrapper] and Args is [data], where data is what
// ActiveJob::Base#serialize writes (job_class, a fresh UUID job_id,
// queue_name, priority, arguments, executions 0, exception_executions {},
// locale "en", timezone "UTC", enqueued_at now). Queue and Priority are set
// on the Job as on the data; enqueue it as any Job.
//
// Each argument is encoded with encoding/json and must already be in
// ActiveJob's argument serialization: strings, numbers, booleans, nil,
// slices, and maps with string keys arrive in perform as themselves (a Hash
// with String keys). A Hash with Symbol keys needs "_aj_symbol_keys", a
// keyword argument "_aj_ruby2_keywords", a record "_aj_globalid"; see
// ActiveJob::Arguments.
func NewActiveJob(class, queue string, priority int16, arguments ...any) (*Job, error) {
	if class == "" {
		return nil, ErrMissingType
	}
	if arguments == nil {
		arguments = []any{}
	}
	args, err := json.Marshal(arguments)
	if err != nil {
		return nil, fmt.Errorf("%w: ActiveJob %s arguments: %w", ErrInvalidArgs, class, err)
	}
	d := ActiveJobData{JobClass: class, JobID: newUUID(), QueueName: queue, Arguments: args,
		ExceptionExecutions: map[string]int{}, Locale: "en", Timezone: "UTC",
		EnqueuedAt: time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")}
	if priority != 0 {
		p := int(priority)
		d.Priority = &p
	}
	data, err := json.Marshal([]ActiveJobData{d})
	if err != nil {
		return nil, fmt.Errorf("%w: ActiveJob %s: %w", ErrInvalidArgs, class, err)
	}
	return &Job{Type: ActiveJobWrapper, Queue: queue, Priority: priority, Args: data}, nil
}

// newUUID returns a random (version 4) UUID, as ActiveJob's job_id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// DecodeArguments decodes the ActiveJob job's arguments one into each of
// dst, as [Job.DecodeArgs] decodes a Que job's args.
func (d *ActiveJobData) DecodeArguments(dst ...any) error {
	j := &Job{Args: d.Arguments}
	return j.DecodeArgs(dst...)
}
