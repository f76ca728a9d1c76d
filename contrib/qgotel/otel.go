package qgotel

import (
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of qgotel's tracer and meter.
const ScopeName = "github.com/qg-go/qg/contrib/qgotel"

// System is the messaging.system attribute of every span.
const System = "qg"

// Attribute keys of qg's own, beside the messaging semantic conventions.
const (
	JobClassKey   = attribute.Key("qg.job.class")       // the job class (que_jobs.job_class)
	ErrorCountKey = attribute.Key("qg.job.error_count") // failures before this run
	PriorityKey   = attribute.Key("qg.job.priority")    // the job's priority
	OutcomeKey    = attribute.Key("qg.job.outcome")     // worked, failed, given_up or released
)

// Config says where qgotel sends spans and metrics and how trace context
// travels. The zero value uses OpenTelemetry's global providers and
// propagator and carries no trace context (see Carrier).
type Config struct {
	// TracerProvider makes qgotel's tracer. Nil means otel.GetTracerProvider().
	TracerProvider trace.TracerProvider

	// MeterProvider makes qgotel's meter. Nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider

	// Propagator writes and reads the trace context a job carries. Nil
	// means otel.GetTextMapPropagator(); set it (for example to
	// propagation.TraceContext{}) when the global one is the default no-op.
	Propagator propagation.TextMapPropagator

	// Carrier is where a job carries its trace context. Nil means none:
	// each work span starts a trace of its own.
	Carrier Carrier

	// Link makes a work span start a trace of its own with a link to the
	// enqueuing span, instead of continuing that span's trace as its
	// child. Links suit jobs that run long after they were enqueued, or
	// many times. False: continue the trace.
	Link bool
}

// Telemetry traces and measures a qg Client's enqueues and a Worker's jobs.
// Its Work method is a qg.Middleware and its Enqueue method a
// qg.EnqueueMiddleware:
//
//	client.EnqueueMiddleware = append(client.EnqueueMiddleware, tel.Enqueue)
//	pool.Middleware = append(pool.Middleware, tel.Work)
//
// It is safe for concurrent use.
type Telemetry struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	carrier    Carrier
	link       bool
	m          instruments
}

// New returns a Telemetry with cfg's providers. It fails when a metric
// instrument cannot be created.
func New(cfg Config) (*Telemetry, error) {
	tp, mp, prop := cfg.TracerProvider, cfg.MeterProvider, cfg.Propagator
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	m, err := newInstruments(mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL)))
	if err != nil {
		return nil, fmt.Errorf("qgotel: new: %w", err)
	}
	return &Telemetry{
		tracer:     tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		propagator: prop,
		carrier:    cfg.Carrier,
		link:       cfg.Link,
		m:          m,
	}, nil
}
