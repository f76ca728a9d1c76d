package main

import (
	"sync/atomic"
	"time"
)

// doneCounter closes done when add has been called target times; workers of
// every system call add from their job function.
type doneCounter struct {
	target int64
	n      atomic.Int64
	done   chan struct{}
}

func newDoneCounter(target int) *doneCounter {
	return &doneCounter{target: int64(target), done: make(chan struct{})}
}

// add counts one worked job.
func (c *doneCounter) add() {
	if c.n.Add(1) == c.target {
		close(c.done)
	}
}

// latencyProbe records, for jobs numbered 0..n, when each was about to be
// enqueued and when its job function started, on the monotonic clock.
type latencyProbe struct {
	base     time.Time
	enqueued []atomic.Int64 // nanoseconds after base, plus one (0: not yet)
	started  []atomic.Int64 // likewise
	starts   chan int       // the seq of each job that started, once each
}

func newLatencyProbe(n int) *latencyProbe {
	return &latencyProbe{
		base:     time.Now(),
		enqueued: make([]atomic.Int64, n+1),
		started:  make([]atomic.Int64, n+1),
		starts:   make(chan int, n+1),
	}
}

// markEnqueued records that job seq is about to be enqueued.
func (p *latencyProbe) markEnqueued(seq int) {
	p.enqueued[seq].Store(int64(time.Since(p.base)) + 1)
}

// markStarted is the job function: it records the first start of job seq
// and announces it on starts. Unknown or repeated seqs are ignored.
func (p *latencyProbe) markStarted(seq int) {
	if seq < 0 || seq >= len(p.started) {
		return
	}
	if p.started[seq].CompareAndSwap(0, int64(time.Since(p.base))+1) {
		p.starts <- seq // buffered for every seq: never blocks
	}
}

// latency is the time from just before job seq's enqueue to its start.
func (p *latencyProbe) latency(seq int) time.Duration {
	return time.Duration(p.started[seq].Load() - p.enqueued[seq].Load())
}
