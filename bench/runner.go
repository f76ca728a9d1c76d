package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"
)

// bench runs the workloads and collects their samples.
type bench struct {
	cfg  config
	srv  *server
	res  *results
	urls map[string]string  // scratch database URL by system name
	apps map[string]*sql.DB // W5's application table, by system name
	log  io.Writer          // progress lines
}

// run sets every system up in its scratch database, runs the workloads
// cfg.runs times, interleaving the systems, prints the report to out and
// drops the scratch databases.
func run(ctx context.Context, cfg config, out io.Writer) error {
	srv, err := openServer(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer srv.close()
	b := &bench{cfg: cfg, srv: srv, log: os.Stderr, res: newResults(cfg), urls: map[string]string{},
		apps: map[string]*sql.DB{}}
	if b.res.Machine, err = describeMachine(ctx, srv); err != nil {
		return err
	}
	l := newLineup(cfg)
	for _, s := range l.all() {
		b.res.system(s.name()) // report order
	}
	defer b.teardown(l.all())
	if err := b.setup(ctx, l.all()); err != nil {
		return err
	}
	var runErr error
	for r := range cfg.runs {
		if err := b.runOnce(ctx, r, l); err != nil {
			runErr = fmt.Errorf("run %d: %w", r+1, err)
			if r == 0 || ctx.Err() != nil || isViolation(err) {
				return runErr
			}
			// The runs before stand: report them, and say why the rest is missing.
			b.res.Notes = append(b.res.Notes, fmt.Sprintf("run %d failed and the report has fewer samples: %v", r+1, err))
			break
		}
	}
	b.res.Machine.LoadEnd = loadAverage()
	if err := b.writeReports(out); err != nil {
		return err
	}
	return runErr
}

// writeReports prints the report to out, and the JSON to -json-out when set.
func (b *bench) writeReports(out io.Writer) error {
	if b.cfg.jsonOut != "" {
		f, err := os.Create(b.cfg.jsonOut)
		if err != nil {
			return fmt.Errorf("json out: %w", err)
		}
		err = writeJSON(f, b.res)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if b.cfg.json {
		return writeJSON(out, b.res)
	}
	return writeMarkdown(out, b.res)
}

// setup creates each system's scratch database and migrates it.
func (b *bench) setup(ctx context.Context, systems []system) error {
	maxConns := slices.Max(slices.Concat(b.cfg.concurrency, b.cfg.txConcurrency, []int{b.cfg.workers, b.cfg.latencyWorkers})) + 4
	for _, s := range systems {
		dbURL, err := b.srv.createDatabase(ctx, scratchName(s.name()))
		if err != nil {
			return err
		}
		b.urls[s.name()] = dbURL
		if b.cfg.synchronousCommit != "" {
			if err := b.srv.setSynchronousCommit(ctx, scratchName(s.name()), b.cfg.synchronousCommit); err != nil {
				return err
			}
		}
		if err := s.setup(ctx, dbURL, maxConns); err != nil {
			return err
		}
	}
	return nil
}

// teardown closes the systems and drops their scratch databases, even after
// an interrupt.
func (b *bench) teardown(systems []system) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, db := range b.apps {
		_ = db.Close()
	}
	for _, s := range systems {
		s.teardown()
		err := b.srv.dropDatabase(ctx, scratchName(s.name()))
		if err != nil && connectionLost(err) && b.srv.waitForServer(ctx) == nil {
			err = b.srv.dropDatabase(ctx, scratchName(s.name()))
		}
		if err != nil {
			fmt.Fprintln(b.log, "bench: warning:", err)
		}
	}
}

// runOnce runs every selected workload once for every system that runs it,
// each limit (limit.go) right after the measurements it is the limit of.
// The order of the systems rotates from run to run, so none always goes
// first.
func (b *bench) runOnce(ctx context.Context, r int, l lineup) error {
	for _, w := range workloadNames {
		if !b.cfg.selected(w) {
			continue
		}
		if err := b.runWorkload(ctx, w, r, l); err != nil {
			return err
		}
	}
	return nil
}

// workloadNames are the workloads in the order a run measures them.
var workloadNames = []string{"W1", "W4", "W2", "W5", "W3"}

// runWorkload measures workload w (one of workloadNames) in run r.
func (b *bench) runWorkload(ctx context.Context, w string, r int, l lineup) error {
	order := rotate(l.full, r)
	switch w {
	case "W1":
		if err := b.forEach(ctx, "W1 enqueue one", order, b.recordEnqueueOne); err != nil {
			return err
		}
		return b.recordPgbench(ctx, r, qgOf(l.full))
	case "W4":
		return b.forEach(ctx, "W4 enqueue batch", order, b.recordEnqueueBatch)
	case "W2":
		return b.drainSweep(ctx, r, l)
	case "W5":
		for _, workers := range b.cfg.txConcurrency {
			if err := b.forEach(ctx, fmt.Sprintf("W5 tx work x%d", workers), rotate(l.tx(), r), b.recordTxWork(workers)); err != nil {
				return err
			}
			if err := b.recordLimits(ctx, r, l, true, workers); err != nil {
				return err
			}
		}
		return nil
	case "W3":
		return b.forEach(ctx, "W3 latency", rotate(slices.Concat(l.full, l.latency), r), b.recordLatency)
	}
	return fmt.Errorf("unknown workload %q", w)
}

// drainSweep is W2 at every worker count, then River alone at the counts
// of -river-concurrency.
func (b *bench) drainSweep(ctx context.Context, r int, l lineup) error {
	drainers := rotate(slices.Concat(l.full, l.drain), r)
	for _, workers := range b.res.Settings.DrainConcurrency {
		if err := b.forEach(ctx, fmt.Sprintf("W2 drain x%d", workers), drainers, b.recordDrain(workers)); err != nil {
			return err
		}
		if err := b.recordLimits(ctx, r, l, false, workers); err != nil {
			return err
		}
	}
	rivers := named(l.full, "river")
	for _, workers := range b.cfg.riverConcurrency {
		if err := b.forEach(ctx, fmt.Sprintf("W2 drain x%d", workers), rivers, b.recordDrain(workers)); err != nil {
			return err
		}
	}
	return nil
}

// forEach runs one workload for each system in turn.
func (b *bench) forEach(ctx context.Context, what string, systems []system, fn func(context.Context, system) error) error {
	for _, s := range systems {
		if err := b.measure(ctx, fn, s); err != nil {
			return fmt.Errorf("%s, %s: %w", what, s.name(), err)
		}
	}
	return nil
}

// measure runs fn under the per-measurement timeout. When the server went
// away during it, it waits for the server and tries again (a sample is
// recorded only by a measurement that succeeded).
func (b *bench) measure(ctx context.Context, fn func(context.Context, system) error, s system) error {
	var err error
	for attempt := 1; attempt <= measureAttempts; attempt++ {
		if err = b.measureOnce(ctx, fn, s); err == nil || !connectionLost(err) || ctx.Err() != nil {
			return err
		}
		b.progress("connection lost (%v); waiting for the server to measure again", err)
		if werr := b.srv.waitForServer(ctx); werr != nil {
			return fmt.Errorf("%w (then %w)", err, werr)
		}
		s.reconnect()
	}
	return err
}

// measureOnce runs fn once under the per-measurement timeout, and samples
// the machine's load average as it starts.
func (b *bench) measureOnce(ctx context.Context, fn func(context.Context, system) error, s system) error {
	if v, err := strconv.ParseFloat(loadAverage(), 64); err == nil {
		b.res.Machine.LoadSamples = append(b.res.Machine.LoadSamples, v)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	return fn(ctx, s)
}

func (b *bench) recordEnqueueOne(ctx context.Context, s system) error {
	v, err := b.enqueueOne(ctx, s)
	if err != nil {
		return err
	}
	b.res.system(s.name()).EnqueueOne = append(b.res.system(s.name()).EnqueueOne, v)
	b.progress("W1 enqueue one  %-12s %9.0f jobs/s", s.name(), v)
	return nil
}

func (b *bench) recordEnqueueBatch(ctx context.Context, s system) error {
	v, err := b.enqueueBatch(ctx, s)
	if err != nil {
		return err
	}
	b.res.system(s.name()).EnqueueBatch = append(b.res.system(s.name()).EnqueueBatch, v)
	b.progress("W4 enqueue batch %-11s %9.0f jobs/s", s.name(), v)
	return nil
}

// recordDrain returns the measurement of W2 with workers workers.
func (b *bench) recordDrain(workers int) func(context.Context, system) error {
	return func(ctx context.Context, s system) error {
		d, err := b.drain(ctx, s, workers)
		if err != nil {
			return err
		}
		b.res.system(s.name()).addDrain(workers, b.cfg.drainJobs, d)
		b.progress("W2 drain x%-3d   %-12s %9.0f jobs/s (%s)", workers, s.name(),
			rate(b.cfg.drainJobs, d), d.Round(time.Millisecond))
		return nil
	}
}

func (b *bench) recordLatency(ctx context.Context, s system) error {
	ds, err := b.latency(ctx, s)
	if err != nil {
		return err
	}
	sr := b.res.system(s.name())
	p50, p99 := percentile(ds, 50), percentile(ds, 99)
	sr.LatencyP50 = append(sr.LatencyP50, ms(p50))
	sr.LatencyP99 = append(sr.LatencyP99, ms(p99))
	b.progress("W3 latency      %-12s p50 %s p99 %s", s.name(), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond))
	return nil
}

// progress prints one line of progress to the log.
func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}

// qgOf is the system named qg among systems (parseFlags requires it).
func qgOf(systems []system) system {
	for _, s := range systems {
		if s.name() == "qg" {
			return s
		}
	}
	panic("bench: no qg system")
}

// named is the systems of xs called name.
func named(xs []system, name string) []system {
	var out []system
	for _, s := range xs {
		if s.name() == name {
			out = append(out, s)
		}
	}
	return out
}

// rotate is xs shifted left by r places.
func rotate[T any](xs []T, r int) []T {
	if len(xs) == 0 {
		return xs
	}
	r %= len(xs)
	return append(slices.Clone(xs[r:]), xs[:r]...)
}
