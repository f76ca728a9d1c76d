package main

import (
	"context"
	"slices"
	"time"
)

// system is one job queue under test, set up in a scratch database of its
// own. The workloads (workload.go) drive every system through these methods
// only, so each adapter (sys_*.go) is just the queue's own API.
type system interface {
	// name is the system's row label in the report.
	name() string
	// setup migrates the scratch database at dbURL with the system's own
	// migration API and opens pools of at most maxConns connections.
	setup(ctx context.Context, dbURL string, maxConns int) error
	// reset empties the system's job table.
	reset(ctx context.Context) error
	// analyze refreshes the planner's statistics of the job table, as
	// autovacuum would on a live system.
	analyze(ctx context.Context) error
	// enqueueOne inserts one ready no-op job carrying seq, in its own
	// statement or transaction.
	enqueueOne(ctx context.Context, seq int) error
	// enqueueBatch inserts n ready no-op jobs in batches of size.
	enqueueBatch(ctx context.Context, n, size int) error
	// startWorkers starts cfg.workers workers, which call work with each
	// job's seq when the job starts, and returns the function that stops
	// them.
	startWorkers(ctx context.Context, cfg workerConfig, work func(seq int)) (stopFunc, error)
	// startTxWorkers is startWorkers for W5: each job inserts appInsert's
	// row carrying its seq in one transaction with the job's own end
	// (deleted or completed), then calls work.
	startTxWorkers(ctx context.Context, cfg workerConfig, work func(seq int)) (stopFunc, error)
	// pending counts the jobs not yet finished (deleted or completed).
	pending(ctx context.Context) (int, error)
	// reconnect drops the pools' idle connections, after the server ended
	// their sessions (a restart, say), so the next measurement starts on
	// live ones.
	reconnect()
	// teardown closes the system's pools; the scratch database is dropped
	// by the caller.
	teardown()
}

// workerConfig is how startWorkers runs its workers.
type workerConfig struct {
	workers  int
	interval time.Duration // idle poll interval
}

// stopFunc stops the workers a system started, waiting for running jobs
// until ctx ends.
type stopFunc func(ctx context.Context) error

// systemNames lists the systems the command knows, in report order.
var systemNames = []string{"qg", "qg-que2", "river"}

// newSystem returns a fresh system by name, or nil for an unknown name.
func newSystem(name string, cfg config) system {
	switch name {
	case "qg":
		return &qgSystem{label: "qg", mode: qgPoll}
	case "qg-que2":
		return &qgSystem{label: "qg que2", mode: qgPoll, que2: true}
	case "river":
		return &riverSystem{fetchCooldown: cfg.riverCooldown}
	}
	return nil
}

// lineup is the systems of one benchmark, by the workloads they run.
type lineup struct {
	full    []system // every workload
	drain   []system // W2 only: qg's batch locking
	latency []system // W3 only: other ways for qg's workers to learn of a job
}

// tx is the systems of W5: every full one and qg's batch locking.
func (l lineup) tx() []system {
	return slices.Concat(l.full, l.drain)
}

// newLineup builds the systems named in cfg, and qg's variants when qg is
// one of them.
func newLineup(cfg config) lineup {
	var l lineup
	for _, name := range cfg.systems {
		l.full = append(l.full, newSystem(name, cfg))
	}
	if !slices.Contains(cfg.systems, "qg") {
		return l
	}
	if cfg.qgBatch > 0 {
		l.drain = []system{&qgSystem{label: "qg batch", mode: qgPoll, batch: cfg.qgBatch}}
	}
	l.latency = []system{
		&qgSystem{label: "qg same client", mode: qgSameClient},
		&qgSystem{label: "qg notified", mode: qgNotified},
	}
	if slices.Contains(cfg.systems, "qg-que2") {
		// Que 2's own que_state notifications, no trigger of qg's.
		l.latency = append(l.latency, &qgSystem{label: "qg que2 notified", mode: qgNotified, que2: true})
	}
	return l
}

// all is every system of the lineup, each once.
func (l lineup) all() []system {
	return slices.Concat(l.full, l.drain, l.latency)
}
