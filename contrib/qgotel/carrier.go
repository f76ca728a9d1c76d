package qgotel

import (
	"bytes"
	"context"
	"encoding/json"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/qg-go/qg"
)

// TraceKey is the key of the job's data object under which qgotel keeps
// its trace context on a Que 2.x table, beside Ruby Que's "tags": an object
// of the propagator's fields, for the W3C propagator
//
//	{"tags": ["..."], "qg_trace": {"traceparent": "00-<trace id>-<span id>-01", "tracestate": "..."}}
//
// A producer of another language (a Ruby enqueue) that writes it there has
// its jobs' work spans continue its trace.
const TraceKey = "qg_trace"

// Carrier is where a job carries its trace context from its enqueue to its
// work: a set of propagation fields (W3C traceparent and tracestate) kept
// in a place the job's table stores.
type Carrier interface {
	// Inject puts fields into j before j is enqueued. A job whose table
	// has no place for them is left alone.
	Inject(j *qg.Job, fields map[string]string)
	// Extract returns the fields j carries; nil or empty when none.
	Extract(j *qg.Job) map[string]string
}

// inject puts ctx's trace context into each job through the Carrier.
func (t *Telemetry) inject(ctx context.Context, jobs []*qg.Job) {
	if t.carrier == nil {
		return
	}
	fields := propagation.MapCarrier{}
	t.propagator.Inject(ctx, fields)
	if len(fields) == 0 {
		return
	}
	for _, j := range jobs {
		if j != nil {
			t.carrier.Inject(j, fields)
		}
	}
}

// extract is the span context j carries through the Carrier, invalid when
// none.
func (t *Telemetry) extract(j *qg.Job) trace.SpanContext {
	if t.carrier == nil {
		return trace.SpanContext{}
	}
	fields := t.carrier.Extract(j)
	if len(fields) == 0 {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(t.propagator.Extract(context.Background(), propagation.MapCarrier(fields)))
}

// DataCarrier carries trace context in a Ruby Que 2.x job's data object
// ([qg.Job.Data]), under [TraceKey], keeping the object's other keys (Ruby
// Que's "tags" among them). Set Config.Carrier to it when the Client works a
// Que 2.x table; a Que 0.x table has no data column, and qg refuses an
// enqueue with Data there ([qg.ErrNeedsQue2]). Its zero value is ready.
type DataCarrier struct{}

// Inject puts fields into j.Data under TraceKey. Data that is not a JSON
// object is left alone, for the enqueue to refuse.
func (DataCarrier) Inject(j *qg.Job, fields map[string]string) {
	data := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(j.Data)) > 0 && json.Unmarshal(j.Data, &data) != nil {
		return
	}
	trace, err := json.Marshal(fields)
	if err != nil {
		return
	}
	data[TraceKey] = trace
	if out, err := json.Marshal(data); err == nil {
		j.Data = out
	}
}

// Extract returns the fields under TraceKey in j.Data: nil when there are
// none, or when they are not an object of strings.
func (DataCarrier) Extract(j *qg.Job) map[string]string {
	var data struct {
		Trace map[string]string `json:"qg_trace"`
	}
	if len(j.Data) == 0 || json.Unmarshal(j.Data, &data) != nil {
		return nil
	}
	return data.Trace
}
