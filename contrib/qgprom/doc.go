// Package qgprom exports the metrics of qg's Workers to Prometheus.
//
// [New] returns a [Metrics], a prometheus.Collector you register on your
// registry, and whose Work method you add to a Worker's or WorkerPool's
// Middleware (qg.WorkerConfig.Middleware). It counts the jobs worked,
// failed and given up, and observes each WorkFunc's duration and each
// job's pickup delay (from its run_at to the start of its work), by queue
// and job class; it gauges the jobs in flight by queue. Job ids and args
// are never labels.
//
// The module is separate from qg's, so qg itself depends on pgx alone.
package qgprom
