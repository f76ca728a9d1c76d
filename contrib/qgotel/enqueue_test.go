package qgotel_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/contrib/qgotel"
)

// TestEnqueueSpans checks the span of a single enqueue, of a batch and of
// an enqueue that fails.
func TestEnqueueSpans(t *testing.T) {
	c, q := setup(t)
	tel := newTelemetry(t, nil, false)
	c.EnqueueMiddleware = []qg.EnqueueMiddleware{tel.Enqueue}
	ctx, parent := sdktrace.NewTracerProvider().Tracer("app").Start(context.Background(), "request")
	one := &qg.Job{Queue: q, Type: "SendEmail"}
	if err := c.EnqueueContext(ctx, one); err != nil {
		t.Fatal(err)
	}
	parent.End()
	s := tel.span(t, "send SendEmail")
	if s.SpanKind() != trace.SpanKindProducer || s.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("send span: kind %v parent %v, want producer, child of %v", s.SpanKind(), s.Parent().SpanID(),
			parent.SpanContext().SpanID())
	}
	wantAttrs(t, s, semconv.MessagingSystemKey.String("qg"), semconv.MessagingOperationTypeSend,
		semconv.MessagingDestinationName(q), qgotel.JobClassKey.String("SendEmail"),
		semconv.MessagingMessageID(strconv.FormatInt(one.ID, 10)))

	batch := []*qg.Job{{Queue: q, Type: "A"}, {Queue: q, Type: "B"}, {Queue: q, Type: "B"}}
	if err := c.EnqueueBatch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	b := tel.span(t, "send")
	wantAttrs(t, b, semconv.MessagingBatchMessageCount(3), semconv.MessagingDestinationName(q))
	if _, ok := attr(b, qgotel.JobClassKey); ok {
		t.Error("a batch of several classes has a class attribute")
	}

	if err := c.Enqueue(&qg.Job{Queue: q, Type: "Bad", Args: []byte("{")}); err == nil {
		t.Fatal("enqueue of invalid args succeeded")
	}
	bad := tel.span(t, "send Bad")
	if bad.Status().Code != codes.Error || len(bad.Events()) != 1 || bad.Events()[0].Name != "exception" {
		t.Errorf("failed enqueue span: status %v events %v", bad.Status(), bad.Events())
	}
	if _, ok := attr(bad, semconv.MessagingMessageIDKey); ok {
		t.Error("failed enqueue span has a message id")
	}
}

// TestWorkSpansUnderAPool works many jobs with a pool of workers sharing
// one Telemetry, and checks that each job has one span and is counted once.
func TestWorkSpansUnderAPool(t *testing.T) {
	c, q := setup(t)
	tel := newTelemetry(t, nil, false)
	const n = 40
	jobs := make([]*qg.Job, n)
	for i := range jobs {
		jobs[i] = &qg.Job{Queue: q, Type: "Ok"}
	}
	if err := c.EnqueueBatch(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	p := qg.NewWorkerPool(c, qg.WorkMap{"Ok": func(*qg.Job) error { return nil }}, 4)
	p.Queue = q
	p.Interval = 10 * time.Millisecond
	p.Middleware = []qg.Middleware{tel.Work}
	p.Start()
	deadline := time.Now().Add(time.Minute)
	for sum(t, tel.metrics(t), qgotel.MetricWorked, labels(q, "Ok")) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	p.Shutdown()
	if got := sum(t, tel.metrics(t), qgotel.MetricWorked, labels(q, "Ok")); got != n {
		t.Fatalf("worked %d, want %d", got, n)
	}
	traces := map[trace.TraceID]bool{}
	ids := map[string]bool{}
	for _, s := range tel.spans.Ended() {
		traces[s.SpanContext().TraceID()] = true
		if v, ok := attr(s, semconv.MessagingMessageIDKey); ok {
			ids[v.AsString()] = true
		}
	}
	if len(tel.spans.Ended()) != n || len(traces) != n || len(ids) != n {
		t.Errorf("%d spans in %d traces for %d job ids, want %d of each", len(tel.spans.Ended()), len(traces), len(ids), n)
	}
}
