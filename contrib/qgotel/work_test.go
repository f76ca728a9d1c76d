package qgotel_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/contrib/qgotel"
)

// labels are the metric attributes of a job of class in queue q.
func labels(q, class string) attribute.Set {
	return attribute.NewSet(semconv.MessagingDestinationName(q), qgotel.JobClassKey.String(class))
}

// TestWorkSpansAndMetrics works a job that succeeds, one that fails, one
// that panics, one given up and one of an unknown class, and checks each
// one's span and the metrics.
func TestWorkSpansAndMetrics(t *testing.T) {
	c, q := setup(t)
	tel := newTelemetry(t, nil, false)
	hourAgo := time.Now().Add(-time.Hour)
	ids := map[string]int64{}
	for i, class := range []string{"Ok", "Fails", "Panics", "GivesUp", "Nobody"} {
		j := &qg.Job{Queue: q, Type: class, Priority: int16(i + 1)}
		if class == "Ok" {
			j.RunAt = hourAgo
		}
		if err := c.Enqueue(j); err != nil {
			t.Fatal(err)
		}
		ids[class] = j.ID
	}
	var inFlight int64
	var child trace.SpanContext
	w := qg.NewWorker(c, qg.WorkMap{
		"Ok": func(j *qg.Job) error {
			inFlight = sum(t, tel.metrics(t), qgotel.MetricInFlight, attribute.NewSet(semconv.MessagingDestinationName(q)))
			_, span := sdktrace.NewTracerProvider().Tracer("app").Start(j.Context(), "child")
			child = span.SpanContext()
			span.End()
			return nil
		},
		"Fails":   func(*qg.Job) error { return errors.New("card declined\nsecond line") },
		"Panics":  func(*qg.Job) error { panic("oh no") },
		"GivesUp": func(*qg.Job) error { return qg.GiveUp(errors.New("never")) },
	})
	w.Queue = q
	w.Middleware = []qg.Middleware{tel.Work}
	for range 5 {
		if !w.WorkOne() {
			t.Fatal("no job worked")
		}
	}

	ok := tel.span(t, "process Ok")
	if ok.SpanKind() != trace.SpanKindConsumer || ok.Status().Code == codes.Error {
		t.Errorf("Ok span: kind %v status %v", ok.SpanKind(), ok.Status())
	}
	wantAttrs(t, ok, semconv.MessagingSystemKey.String("qg"), semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName(q), semconv.MessagingMessageID(strconv.FormatInt(ids["Ok"], 10)),
		qgotel.JobClassKey.String("Ok"), qgotel.ErrorCountKey.Int(0), qgotel.PriorityKey.Int(1),
		qgotel.OutcomeKey.String("worked"))
	if child.TraceID() != ok.SpanContext().TraceID() || inFlight != 1 {
		t.Errorf("WorkFunc's span in trace %v, want the job's %v; in flight during it %d, want 1",
			child.TraceID(), ok.SpanContext().TraceID(), inFlight)
	}

	fails := tel.span(t, "process Fails")
	wantAttrs(t, fails, qgotel.OutcomeKey.String("failed"), semconv.ErrorTypeKey.String("*errors.errorString"))
	if st := fails.Status(); st.Code != codes.Error || st.Description != "card declined" {
		t.Errorf("Fails span status %v", st)
	}
	wantException(t, fails, "*errors.errorString", "card declined\nsecond line", "")

	panics := tel.span(t, "process Panics")
	wantAttrs(t, panics, qgotel.OutcomeKey.String("failed"), semconv.ErrorTypeKey.String("panic"))
	wantException(t, panics, "panic", "oh no", "work_test.go")

	givesUp := tel.span(t, "process GivesUp")
	wantAttrs(t, givesUp, qgotel.OutcomeKey.String("given_up"), semconv.MessagingDestinationName(q))
	if givesUp.Status().Code != codes.Error {
		t.Errorf("GivesUp span status %v", givesUp.Status())
	}
	wantAttrs(t, tel.span(t, "process Nobody"), qgotel.OutcomeKey.String("failed"),
		semconv.ErrorTypeKey.String("unknown_type"))

	data := tel.metrics(t)
	for _, m := range []struct {
		name, class string
		want        int64
	}{
		{qgotel.MetricWorked, "Ok", 1}, {qgotel.MetricFailed, "Ok", 0},
		{qgotel.MetricFailed, "Fails", 1}, {qgotel.MetricFailed, "Panics", 1},
		{qgotel.MetricGivenUp, "GivesUp", 1}, {qgotel.MetricFailed, "GivesUp", 0},
		{qgotel.MetricFailed, qgotel.UnknownClass, 1}, {qgotel.MetricFailed, "Nobody", 0},
	} {
		if got := sum(t, data, m.name, labels(q, m.class)); got != m.want {
			t.Errorf("%s{%s} = %d, want %d", m.name, m.class, got, m.want)
		}
	}
	if n := sum(t, data, qgotel.MetricInFlight, attribute.NewSet(semconv.MessagingDestinationName(q))); n != 0 {
		t.Errorf("in flight after the runs: %d", n)
	}
	for _, class := range []string{"Ok", "Fails", "Panics", "GivesUp"} {
		if d := histogram(t, data, qgotel.MetricDuration, labels(q, class)); d.Count != 1 {
			t.Errorf("%s{%s}: %d recorded, want 1", qgotel.MetricDuration, class, d.Count)
		}
	}
	if d := histogram(t, data, qgotel.MetricDuration, labels(q, qgotel.UnknownClass)); d.Count != 0 {
		t.Errorf("a job with no WorkFunc has a duration: %+v", d)
	}
	if d := histogram(t, data, qgotel.MetricPickupDelay, labels(q, "Ok")); d.Count != 1 || d.Sum < time.Hour.Seconds() {
		t.Errorf("pickup delay of a job due an hour ago: count %d sum %v s", d.Count, d.Sum)
	}
	if d := histogram(t, data, qgotel.MetricPickupDelay, labels(q, qgotel.UnknownClass)); d.Count != 1 {
		t.Errorf("pickup delay of the unknown job: count %d", d.Count)
	}
}

// wantException checks that s has an exception event of type typ and
// message msg, with a stack trace that contains stack.
func wantException(t *testing.T, s sdktrace.ReadOnlySpan, typ, msg, stack string) {
	t.Helper()
	for _, ev := range s.Events() {
		if ev.Name != "exception" {
			continue
		}
		got := map[attribute.Key]string{}
		for _, kv := range ev.Attributes {
			got[kv.Key] = kv.Value.Emit()
		}
		if got[semconv.ExceptionTypeKey] != typ || !strings.Contains(got[semconv.ExceptionMessageKey], msg) ||
			!strings.Contains(got[semconv.ExceptionStacktraceKey], stack) {
			t.Errorf("span %q exception: %v", s.Name(), got)
		}
		return
	}
	t.Errorf("span %q has no exception event", s.Name())
}
