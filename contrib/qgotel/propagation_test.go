package qgotel_test

import (
	"context"
	"encoding/json"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/contrib/qgotel"
)

// argsCarrier carries trace context as a last element of a job's args
// array, {"qg_trace": {...}}: a carrier of the test's own, for a 0.x table
// whose producers and workers are all Go.
type argsCarrier struct{}

func (argsCarrier) Inject(j *qg.Job, fields map[string]string) {
	var args []any
	if len(j.Args) > 0 {
		if err := json.Unmarshal(j.Args, &args); err != nil {
			return
		}
	}
	j.Args, _ = json.Marshal(append(args, map[string]any{qgotel.TraceKey: fields}))
}

func (argsCarrier) Extract(j *qg.Job) map[string]string {
	var args []json.RawMessage
	var last map[string]map[string]string
	if json.Unmarshal(j.Args, &args) != nil || len(args) == 0 || json.Unmarshal(args[len(args)-1], &last) != nil {
		return nil
	}
	return last[qgotel.TraceKey]
}

// TestTraceContinuesThroughACarrier checks that the work span of a job
// enqueued inside a span continues that span's trace, as the child of the
// enqueue span, and with Config.Link starts its own trace linked to it.
func TestTraceContinuesThroughACarrier(t *testing.T) {
	for _, link := range []bool{false, true} {
		c, q := setup(t)
		q += map[bool]string{false: "_child", true: "_link"}[link]
		tel := newTelemetry(t, argsCarrier{}, link)
		c.EnqueueMiddleware = []qg.EnqueueMiddleware{tel.Enqueue}
		ctx, request := sdktrace.NewTracerProvider().Tracer("app").Start(context.Background(), "request")
		if err := c.EnqueueContext(ctx, &qg.Job{Queue: q, Type: "Traced", Args: []byte(`[1]`)}); err != nil {
			t.Fatal(err)
		}
		request.End()
		w := qg.NewWorker(c, qg.WorkMap{"Traced": func(*qg.Job) error { return nil }})
		w.Queue = q
		w.Middleware = []qg.Middleware{tel.Work}
		if !w.WorkOne() {
			t.Fatal("no job worked")
		}
		send, process := tel.span(t, "send Traced"), tel.span(t, "process Traced")
		if send.SpanContext().TraceID() != request.SpanContext().TraceID() {
			t.Fatalf("the send span is not in the request's trace")
		}
		wantContinued(t, process, send.SpanContext(), link)
	}
}
