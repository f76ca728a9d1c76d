package qgotel

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/qg-go/qg"
)

// Enqueue is a qg.EnqueueMiddleware: it runs the enqueue inside a span
// named "send <job class>" (kind producer; "send" alone for a batch of
// several classes), a child of ctx's span, and, with a Carrier, puts that
// span's trace context into each job, so the job's work span continues its
// trace. A failed enqueue is recorded on the span.
func (t *Telemetry) Enqueue(ctx context.Context, jobs []*qg.Job, enqueue func(context.Context) error) error {
	name, attrs := sendAttrs(jobs)
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	defer span.End()
	t.inject(ctx, jobs)
	err := enqueue(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, firstLine(err.Error()))
		return err
	}
	if len(jobs) == 1 {
		span.SetAttributes(semconv.MessagingMessageID(strconv.FormatInt(jobs[0].ID, 10)))
	}
	return nil
}

// sendAttrs are the name and attributes of the span of an enqueue of jobs:
// the queue and the class when all jobs share them.
func sendAttrs(jobs []*qg.Job) (string, []attribute.KeyValue) {
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKey.String(System),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("send"),
	}
	if len(jobs) > 1 {
		attrs = append(attrs, semconv.MessagingBatchMessageCount(len(jobs)))
	}
	name := "send"
	if q, ok := same(jobs, func(j *qg.Job) string { return j.Queue }); ok {
		attrs = append(attrs, semconv.MessagingDestinationName(q))
	}
	if c, ok := same(jobs, func(j *qg.Job) string { return j.Type }); ok && c != "" {
		attrs = append(attrs, JobClassKey.String(c))
		name += " " + c
	}
	return name, attrs
}

// same returns the value field gives for every job of jobs, if they agree.
func same(jobs []*qg.Job, field func(*qg.Job) string) (string, bool) {
	if len(jobs) == 0 || jobs[0] == nil {
		return "", false
	}
	v := field(jobs[0])
	for _, j := range jobs[1:] {
		if j == nil || field(j) != v {
			return "", false
		}
	}
	return v, true
}
