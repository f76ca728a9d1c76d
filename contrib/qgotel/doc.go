// Package qgotel traces and measures qg's jobs with OpenTelemetry.
//
// [New] returns a [Telemetry] on your tracer and meter providers (or the
// global ones). Its Work method is a qg.Middleware and its Enqueue method a
// qg.EnqueueMiddleware:
//
//	tel, err := qgotel.New(qgotel.Config{})
//	client.EnqueueMiddleware = append(client.EnqueueMiddleware, tel.Enqueue)
//	pool.Middleware = append(pool.Middleware, tel.Work)
//
// # Spans
//
// Each enqueue runs in a span "send <job class>" of kind producer, a child
// of the caller's span (a batch of several classes: "send", with
// messaging.batch.message_count). Each job a Worker works runs in a span
// "process <job class>" of kind consumer, from before its WorkFunc to after
// its commit or the recording of its failure; the span's context is the
// job's Job.Context, so the WorkFunc's own spans are its children. Their
// attributes follow OpenTelemetry's messaging conventions where they fit:
// messaging.system "qg", messaging.operation.type and .name,
// messaging.destination.name (the queue) and messaging.message.id (the job
// id), plus qg.job.class, qg.job.priority, qg.job.error_count (failures
// before this run; the attempt is one more) and qg.job.outcome (worked,
// failed, given_up, released). A failed run has status Error, error.type
// (the error's Go type, "panic" or "unknown_type") and an exception event;
// a panic's event holds its value and stack.
//
// # Metrics
//
// Counters qg.jobs.worked, qg.jobs.failed (failures recorded: the job runs
// again) and qg.jobs.given_up; histograms qg.job.duration (how long the
// WorkFunc ran) and qg.job.pickup_delay (from the job's run_at to the start
// of its work), in seconds; the up-down counter qg.jobs.in_flight. They are
// by messaging.destination.name and qg.job.class (in flight by queue only);
// a job no WorkFunc handles counts as class "_unknown", so the values stay
// bounded by the WorkMap whatever classes the table holds. Ids and args are
// never attributes of a metric.
//
// # Trace context across the queue
//
// With a [Carrier] (Config.Carrier), the enqueue span's trace context (W3C
// traceparent and tracestate, through Config.Propagator) travels in the
// job, and the work span continues that trace as the enqueue span's child,
// or, with Config.Link, starts its own trace with a link to it. On a Ruby
// Que 2.x table, [DataCarrier] keeps it in the job's data object (the
// column Job.Data reads and writes), under the key [TraceKey] ("qg_trace")
// beside Ruby Que's "tags":
//
//	{"tags": ["billing"], "qg_trace": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
//
// A producer of another language that writes this key (a Ruby app, in the
// INSERT or an UPDATE of the row in its enqueuing transaction; Que's own
// enqueue writes only tags into data) has its jobs' work spans continue its
// trace too. A Que 0.x table (schema version 3) has no column for it, and
// qgotel adds none to que_jobs: leave Carrier nil there (qg refuses Data on
// that table), and each work span starts a trace of its own, unconnected to
// its enqueue span.
//
// The module is separate from qg's, so qg itself depends on pgx alone.
package qgotel
