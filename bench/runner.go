package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// bench runs the workloads and collects their samples.
type bench struct {
	cfg  config
	srv  *server
	res  *results
	urls map[string]string // scratch database URL by system name
	log  io.Writer         // progress lines
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
	b := &bench{cfg: cfg, srv: srv, log: os.Stderr, res: newResults(cfg), urls: map[string]string{}}
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
	for r := range cfg.runs {
		if err := b.runOnce(ctx, r, l); err != nil {
			return fmt.Errorf("run %d: %w", r+1, err)
		}
	}
	b.res.Machine.LoadEnd = loadAverage()
	if cfg.json {
		return writeJSON(out, b.res)
	}
	return writeMarkdown(out, b.res)
}

// setup creates each system's scratch database and migrates it.
func (b *bench) setup(ctx context.Context, systems []system) error {
	maxConns := slices.Max(append(slices.Clone(b.cfg.concurrency), b.cfg.workers, b.cfg.latencyWorkers)) + 4
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

// runOnce runs every workload once for every system that runs it. The order
// of the systems rotates from run to run, so none always goes first.
func (b *bench) runOnce(ctx context.Context, r int, l lineup) error {
	order := rotate(l.full, r)
	if err := b.forEach(ctx, "W1 enqueue one", order, b.recordEnqueueOne); err != nil {
		return err
	}
	if err := b.recordPgbench(ctx, r, qgOf(l.full)); err != nil {
		return err
	}
	if err := b.forEach(ctx, "W4 enqueue batch", order, b.recordEnqueueBatch); err != nil {
		return err
	}
	drainers := rotate(slices.Concat(l.full, l.drain), r)
	for _, workers := range b.res.Settings.DrainConcurrency {
		if err := b.forEach(ctx, fmt.Sprintf("W2 drain x%d", workers), drainers, b.recordDrain(workers)); err != nil {
			return err
		}
	}
	return b.forEach(ctx, "W3 latency", rotate(slices.Concat(l.full, l.latency), r), b.recordLatency)
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

// measureOnce runs fn once under the per-measurement timeout.
func (b *bench) measureOnce(ctx context.Context, fn func(context.Context, system) error, s system) error {
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

// rotate is xs shifted left by r places.
func rotate[T any](xs []T, r int) []T {
	if len(xs) == 0 {
		return xs
	}
	r %= len(xs)
	return append(slices.Clone(xs[r:]), xs[:r]...)
}
