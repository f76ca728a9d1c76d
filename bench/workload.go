package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

// The workloads. Each starts from an empty job table and a checkpoint, and
// measures one system once.

// prepare empties s's job table and checkpoints the server.
func (b *bench) prepare(ctx context.Context, s system) error {
	if err := s.reset(ctx); err != nil {
		return err
	}
	return b.srv.checkpoint(ctx)
}

// enqueueOne is W1: cfg.enqueueJobs jobs enqueued one at a time, one after
// the other (so on one connection). It returns jobs per second.
func (b *bench) enqueueOne(ctx context.Context, s system) (float64, error) {
	if err := b.prepare(ctx, s); err != nil {
		return 0, err
	}
	n := b.cfg.enqueueJobs
	start := time.Now()
	for seq := range n {
		if err := s.enqueueOne(ctx, seq); err != nil {
			return 0, err
		}
	}
	return rate(n, time.Since(start)), nil
}

// enqueueBatch is W4: cfg.batchJobs jobs enqueued in batches of
// cfg.batchSize. It returns jobs per second.
func (b *bench) enqueueBatch(ctx context.Context, s system) (float64, error) {
	if err := b.prepare(ctx, s); err != nil {
		return 0, err
	}
	n := b.cfg.batchJobs
	start := time.Now()
	if err := s.enqueueBatch(ctx, n, b.cfg.batchSize); err != nil {
		return 0, err
	}
	return rate(n, time.Since(start)), nil
}

// drain is W2: cfg.drainJobs ready jobs (enqueued untimed, then analyzed)
// drained by workers workers. It returns the time from starting the workers
// until the system has finished every job; stopping the workers is not
// counted.
func (b *bench) drain(ctx context.Context, s system, workers int) (time.Duration, error) {
	n := b.cfg.drainJobs
	if err := b.fill(ctx, s, n); err != nil {
		return 0, err
	}
	worked := newDoneCounter(n)
	start := time.Now()
	stop, err := s.startWorkers(ctx, workerConfig{workers: workers, interval: b.cfg.drainInterval},
		func(int) { worked.add() })
	if err != nil {
		return 0, err
	}
	defer stopWorkers(stop)
	select {
	case <-worked.done:
	case <-ctx.Done():
		return 0, fmt.Errorf("drain: %d of %d jobs worked: %w", worked.n.Load(), n, ctx.Err())
	}
	if err := waitEmpty(ctx, s); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// fill empties s's job table, enqueues n ready jobs in batches, analyzes
// the table and checkpoints the server.
func (b *bench) fill(ctx context.Context, s system, n int) error {
	if err := s.reset(ctx); err != nil {
		return err
	}
	if err := s.enqueueBatch(ctx, n, b.cfg.batchSize); err != nil {
		return err
	}
	if err := s.analyze(ctx); err != nil {
		return err
	}
	return b.srv.checkpoint(ctx)
}

// waitEmpty polls until s has no unfinished job. Workers commit or record a
// job's end after its function returned, so the last few lag the counter.
func waitEmpty(ctx context.Context, s system) error {
	for {
		n, err := s.pending(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d jobs still unfinished: %w", n, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// latency is W3: with cfg.latencyWorkers idle workers polling every
// cfg.latencyInterval, cfg.latencyJobs jobs are enqueued one by one,
// cfg.latencySpacing apart. It returns each job's time from just before its
// enqueue call to the start of its job function. A warm-up job first makes
// sure the workers are up; a random pause after it keeps the measured jobs
// from always starting right after the workers polled.
func (b *bench) latency(ctx context.Context, s system) ([]time.Duration, error) {
	if err := b.prepare(ctx, s); err != nil {
		return nil, err
	}
	n := b.cfg.latencyJobs
	probe := newLatencyProbe(n)
	stop, err := s.startWorkers(ctx, workerConfig{workers: b.cfg.latencyWorkers, interval: b.cfg.latencyInterval},
		probe.markStarted)
	if err != nil {
		return nil, err
	}
	defer stopWorkers(stop)
	if err := enqueueProbed(ctx, s, probe, 0); err != nil {
		return nil, err
	}
	if err := awaitStarts(ctx, probe, 1); err != nil {
		return nil, fmt.Errorf("latency: warm-up job: %w", err)
	}
	// The warm-up job put the workers in step with their poll: start the
	// measured jobs at a random phase of the interval, not right after a poll.
	time.Sleep(rand.N(b.cfg.latencyInterval))
	first := time.Now()
	for seq := 1; seq <= n; seq++ {
		time.Sleep(time.Until(first.Add(time.Duration(seq-1) * b.cfg.latencySpacing)))
		if err := enqueueProbed(ctx, s, probe, seq); err != nil {
			return nil, err
		}
	}
	if err := awaitStarts(ctx, probe, n); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	out := make([]time.Duration, n)
	for seq := 1; seq <= n; seq++ {
		out[seq-1] = probe.latency(seq)
	}
	return out, nil
}

// enqueueProbed marks job seq as enqueued, then enqueues it.
func enqueueProbed(ctx context.Context, s system, p *latencyProbe, seq int) error {
	p.markEnqueued(seq)
	return s.enqueueOne(ctx, seq)
}

// awaitStarts waits for n more jobs of p to start.
func awaitStarts(ctx context.Context, p *latencyProbe, n int) error {
	for i := range n {
		select {
		case <-p.starts:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d jobs started: %w", i, n, ctx.Err())
		}
	}
	return nil
}

// stopWorkers stops workers, waiting at most a minute for their jobs; a
// failure to stop is only worth a warning, the measurement being taken.
func stopWorkers(stop stopFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench: warning: stop workers:", err)
	}
}
