package qgotel

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/qg-go/qg"
)

// Work is a qg.Middleware: it works the job inside a span named
// "process <job class>" (kind consumer) and records the run's metrics. The
// span's context is the job's Job.Context in the WorkFunc, so spans the
// WorkFunc starts are its children. A failure is recorded on the span
// (status Error, an exception event; for a panic, its value and stack).
// When the job carries trace context (see Carrier), the span continues
// that trace, or links to it with Config.Link.
func (t *Telemetry) Work(ctx context.Context, j *qg.Job, work func(context.Context) qg.JobEvent) qg.JobEvent {
	r := newRun(j)
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithTimestamp(r.start), trace.WithAttributes(r.spanAttrs()...)}
	if remote := t.extract(j); remote.IsValid() {
		if t.link {
			opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: remote}))
		} else {
			ctx = trace.ContextWithRemoteSpanContext(ctx, remote)
		}
	}
	ctx, span := t.tracer.Start(ctx, "process "+j.Type, opts...)
	defer span.End()
	t.m.started(ctx, r)
	e := work(ctx)
	t.m.ended(ctx, r, e)
	endWorkSpan(span, e)
	return e
}

// spanAttrs are the attributes of the run's span.
func (r run) spanAttrs() []attribute.KeyValue {
	return []attribute.KeyValue{
		semconv.MessagingSystemKey.String(System),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName("process"),
		semconv.MessagingDestinationName(r.queue),
		semconv.MessagingMessageID(strconv.FormatInt(r.id, 10)),
		JobClassKey.String(r.class),
		ErrorCountKey.Int(int(r.errorCount)),
		PriorityKey.Int(int(r.priority)),
	}
}

// endWorkSpan records the run's outcome, and its failure, on span.
func endWorkSpan(span trace.Span, e qg.JobEvent) {
	span.SetAttributes(OutcomeKey.String(e.Outcome.String()))
	if e.Err == nil {
		return
	}
	span.SetAttributes(semconv.ErrorTypeKey.String(errorType(e)))
	span.SetStatus(codes.Error, firstLine(e.Err.Error()))
	if e.Stack != nil {
		span.AddEvent("exception", trace.WithAttributes(
			semconv.ExceptionType("panic"),
			semconv.ExceptionMessage(fmt.Sprint(e.Panic)),
			semconv.ExceptionStacktrace(string(e.Stack))))
		return
	}
	span.RecordError(e.Err)
}

// errorType is the error.type of a failed run: "panic", "unknown_type", or
// the error's Go type.
func errorType(e qg.JobEvent) string {
	switch {
	case e.Stack != nil:
		return "panic"
	case isUnknown(e):
		return "unknown_type"
	}
	return fmt.Sprintf("%T", e.Err)
}

// isUnknown reports whether the run failed because no WorkFunc handles its
// job's class.
func isUnknown(e qg.JobEvent) bool {
	return errors.Is(e.Err, qg.ErrUnknownType)
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
