package qgprom

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qg-go/qg"
)

// Label names. Every metric has both but qg_jobs_in_flight, which has the
// queue only. No label ever holds a job's id or args, so a metric's series
// are bounded by the queues worked and the classes of their WorkMaps.
const (
	LabelQueue    = "queue"
	LabelJobClass = "job_class"
)

// UnknownClass is the job_class label of a job no WorkFunc handles: rows
// of any class keep the label's values bounded by the WorkMap.
const UnknownClass = "_unknown"

// DefaultBuckets are the histograms' buckets when Config gives none, in
// seconds: from a millisecond to ten minutes.
var DefaultBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600}

// Config names the metrics and sets their buckets. The zero value is
// ready: metrics named qg_..., DefaultBuckets.
type Config struct {
	// Namespace prefixes every metric name. Empty means "qg".
	Namespace string

	// DurationBuckets are the buckets of qg_job_duration_seconds. Nil
	// means DefaultBuckets.
	DurationBuckets []float64

	// PickupDelayBuckets are the buckets of qg_job_pickup_delay_seconds.
	// Nil means DefaultBuckets.
	PickupDelayBuckets []float64
}

// Metrics is a prometheus.Collector of a Worker's jobs, fed by its Work
// method, a qg.Middleware:
//
//	m := qgprom.New(qgprom.Config{})
//	prometheus.MustRegister(m)
//	pool.Middleware = append(pool.Middleware, m.Work)
//
// Its metrics (with the default namespace): the counters
// qg_jobs_worked_total, qg_jobs_failed_total (failures recorded, the job to
// run again) and qg_jobs_given_up_total; the histograms
// qg_job_duration_seconds (how long the WorkFunc ran) and
// qg_job_pickup_delay_seconds (from the job's run_at to the start of its
// work); the gauge qg_jobs_in_flight. It is safe for concurrent use; one
// Metrics may serve several Workers and pools.
type Metrics struct {
	worked, failed, givenUp *prometheus.CounterVec
	duration, pickupDelay   *prometheus.HistogramVec
	inFlight                *prometheus.GaugeVec
}

// New returns the Metrics of cfg, not yet registered.
func New(cfg Config) *Metrics {
	ns := cfg.Namespace
	if ns == "" {
		ns = "qg"
	}
	labels := []string{LabelQueue, LabelJobClass}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		if buckets == nil {
			buckets = DefaultBuckets
		}
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: buckets}, labels)
	}
	return &Metrics{
		worked:  counter("jobs_worked_total", "Jobs whose work committed."),
		failed:  counter("jobs_failed_total", "Job failures recorded; each such job runs again."),
		givenUp: counter("jobs_given_up_total", "Jobs given up."),
		duration: histogram("job_duration_seconds", "How long a job's WorkFunc ran.",
			cfg.DurationBuckets),
		pickupDelay: histogram("job_pickup_delay_seconds", "How long a job waited from its run_at to the start of its work.",
			cfg.PickupDelayBuckets),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "jobs_in_flight",
			Help: "Jobs being worked."}, []string{LabelQueue}),
	}
}

// collectors are the Metrics' metric vectors.
func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.worked, m.failed, m.givenUp, m.duration, m.pickupDelay, m.inFlight}
}

// Describe sends the descriptors of the Metrics' metrics.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect sends the Metrics' current values.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// Work is a qg.Middleware that measures each job's run: in flight while it
// runs, then its outcome, its WorkFunc's duration and its pickup delay.
func (m *Metrics) Work(ctx context.Context, j *qg.Job, work func(context.Context) qg.JobEvent) qg.JobEvent {
	// The run may change the job's queue (giving it up) and run_at.
	queue, class, runAt, start := j.Queue, j.Type, j.RunAt, time.Now()
	inFlight := m.inFlight.WithLabelValues(queue)
	inFlight.Inc()
	e := work(ctx)
	inFlight.Dec()
	if errors.Is(e.Err, qg.ErrUnknownType) {
		class = UnknownClass
	}
	m.pickupDelay.WithLabelValues(queue, class).Observe(max(start.Sub(runAt), 0).Seconds())
	if !e.Start.IsZero() {
		m.duration.WithLabelValues(queue, class).Observe(e.Duration.Seconds())
	}
	switch e.Outcome {
	case qg.RunWorked:
		m.worked.WithLabelValues(queue, class).Inc()
	case qg.RunFailed:
		m.failed.WithLabelValues(queue, class).Inc()
	case qg.RunGivenUp:
		m.givenUp.WithLabelValues(queue, class).Inc()
	}
	return e
}
