package qgotel

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/qg-go/qg"
)

// Metric names. Every metric has the attributes messaging.destination.name
// (the queue) and qg.job.class, except qg.jobs.in_flight, which has the
// queue only.
const (
	MetricWorked      = "qg.jobs.worked"      // counter: jobs whose work committed
	MetricFailed      = "qg.jobs.failed"      // counter: failures recorded, the job to run again
	MetricGivenUp     = "qg.jobs.given_up"    // counter: jobs given up
	MetricDuration    = "qg.job.duration"     // histogram, seconds: how long a WorkFunc ran
	MetricPickupDelay = "qg.job.pickup_delay" // histogram, seconds: from run_at to the start of the work
	MetricInFlight    = "qg.jobs.in_flight"   // up-down counter: jobs being worked
	UnknownClass      = "_unknown"            // qg.job.class of a job no WorkFunc handles
	secondsUnit       = "s"                   // UCUM seconds
	jobsUnit          = "{job}"               // UCUM annotation: a count of jobs
	durationHelp      = "How long a job's WorkFunc ran."
	pickupDelayHelp   = "How long a job waited from its run_at to the start of its work."
	inFlightHelp      = "The jobs being worked."
	workedHelp        = "The jobs whose work committed."
	failedHelp        = "The job failures recorded; each such job runs again."
	givenUpHelp       = "The jobs given up."
)

// secondsBuckets are the histograms' bucket boundaries, in seconds: from a
// millisecond to ten minutes.
var secondsBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600}

// instruments are the metrics a Telemetry records.
type instruments struct {
	worked, failed, givenUp metric.Int64Counter
	duration, pickupDelay   metric.Float64Histogram
	inFlight                metric.Int64UpDownCounter
}

// newInstruments creates the instruments on meter.
func newInstruments(meter metric.Meter) (m instruments, err error) {
	counter := func(name, help string) metric.Int64Counter {
		c, e := meter.Int64Counter(name, metric.WithUnit(jobsUnit), metric.WithDescription(help))
		if err == nil {
			err = e
		}
		return c
	}
	histogram := func(name, help string) metric.Float64Histogram {
		h, e := meter.Float64Histogram(name, metric.WithUnit(secondsUnit), metric.WithDescription(help),
			metric.WithExplicitBucketBoundaries(secondsBuckets...))
		if err == nil {
			err = e
		}
		return h
	}
	m.worked = counter(MetricWorked, workedHelp)
	m.failed = counter(MetricFailed, failedHelp)
	m.givenUp = counter(MetricGivenUp, givenUpHelp)
	m.duration = histogram(MetricDuration, durationHelp)
	m.pickupDelay = histogram(MetricPickupDelay, pickupDelayHelp)
	m.inFlight, err = meter.Int64UpDownCounter(MetricInFlight, metric.WithUnit(jobsUnit), metric.WithDescription(inFlightHelp))
	return m, err
}

// started counts a job in flight.
func (m *instruments) started(ctx context.Context, r run) {
	m.inFlight.Add(ctx, 1, metric.WithAttributeSet(r.queueOnly()))
}

// ended records how a job's run ended, and its pickup delay.
func (m *instruments) ended(ctx context.Context, r run, e qg.JobEvent) {
	m.inFlight.Add(ctx, -1, metric.WithAttributeSet(r.queueOnly()))
	labels := metric.WithAttributeSet(r.labelsAfter(e))
	m.pickupDelay.Record(ctx, r.pickupDelay().Seconds(), labels)
	if !e.Start.IsZero() {
		m.duration.Record(ctx, e.Duration.Seconds(), labels)
	}
	switch e.Outcome {
	case qg.RunWorked:
		m.worked.Add(ctx, 1, labels)
	case qg.RunFailed:
		m.failed.Add(ctx, 1, labels)
	case qg.RunGivenUp:
		m.givenUp.Add(ctx, 1, labels)
	}
}

// run is what a Telemetry notes of a job as its work begins: the fields
// the run changes (its queue, on giving up) are read before.
type run struct {
	queue, class string
	id           int64
	errorCount   int32
	priority     int16
	runAt, start time.Time
}

// newRun notes j's fields at the start of its work.
func newRun(j *qg.Job) run {
	return run{queue: j.Queue, class: j.Type, id: j.ID, errorCount: j.ErrorCount,
		priority: j.Priority, runAt: j.RunAt, start: time.Now()}
}

// pickupDelay is how long the job waited from its run_at to its start.
func (r run) pickupDelay() time.Duration {
	return max(r.start.Sub(r.runAt), 0)
}

// labels are the metric attributes of the run.
func (r run) labels() attribute.Set {
	return attribute.NewSet(semconv.MessagingDestinationName(r.queue), JobClassKey.String(r.class))
}

// labelsAfter are the metric attributes of the ended run e: a class no
// WorkFunc handles counts as UnknownClass, so that rows of any class keep
// the attribute's values bounded by the WorkMap.
func (r run) labelsAfter(e qg.JobEvent) attribute.Set {
	if isUnknown(e) {
		return attribute.NewSet(semconv.MessagingDestinationName(r.queue), JobClassKey.String(UnknownClass))
	}
	return r.labels()
}

// queueOnly is the queue attribute alone.
func (r run) queueOnly() attribute.Set {
	return attribute.NewSet(semconv.MessagingDestinationName(r.queue))
}
