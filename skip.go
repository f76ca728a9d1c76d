package qg

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// isReadOnly reports whether err is PostgreSQL's read_only_sql_transaction.
func isReadOnly(err error) bool {
	var e interface{ SQLState() string }
	return errors.As(err, &e) && e.SQLState() == "25006"
}

// skips are the jobs a Client's workers pass over for a while: those whose
// failure could not be recorded. Without it such a job, still runnable and
// unlocked, would be taken again at once, forever, without backoff. Only
// this process skips it; the row is unchanged.
type skips map[int64]time.Time

// skip makes the Client's workers pass over job id for d.
func (c *Client) skip(id int64, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.skipped == nil {
		c.skipped = skips{}
	}
	c.skipped[id] = time.Now().Add(max(d, time.Second))
}

// skippedIDs lists the jobs skipped now, forgetting those whose time passed.
// The caller holds c.mu.
func (c *Client) skippedIDs() []int64 {
	now := time.Now()
	var ids []int64
	for id, until := range c.skipped {
		if now.After(until) {
			delete(c.skipped, id)
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

// unskip ends the skip of job id: its failure was recorded after all.
func (c *Client) unskip(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.skipped, id)
}

// unrecorded handles a failure of job j whose record failed with rerr: the
// Client passes over the job for delay (Worker.fail began the skip before
// the record, which may unlock the job), and the error is logged (to the
// Worker's Logger, or slog.Default when it has none: it changes what the
// worker does). On a read-only session it also stops the Worker.
func (w *Worker) unrecorded(j *Job, delay time.Duration, what string, rerr error) {
	w.c.skip(j.ID, delay)
	logger := w.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Error("qg: "+what+" not recorded; this process skips the job for its backoff",
		append(jobAttrs(j), slog.Duration("skipped_for", delay), slog.Any("error", rerr))...)
	if isReadOnly(rerr) {
		w.halt(fmt.Errorf("%w: %w", ErrReadOnly, rerr))
	}
}

// halt stops the Worker on an error that makes working on useless, and
// logs why. Work returns after the current job.
func (w *Worker) halt(err error) {
	if w.haltErr.set(err, w.Logger, "qg: worker stopped", w.Queue) && w.onHalt != nil {
		w.onHalt(err)
	}
}

// halted returns the error the Worker stopped with, if any.
func (w *Worker) halted() error { return w.haltErr.get() }

// stopCause keeps the first error that stopped a Worker or a batch locker
// on its own.
type stopCause struct {
	mu  sync.Mutex
	err error
}

// set keeps err unless an error is kept already, and then logs msg with
// it (to logger, or slog.Default when nil: it stops work). It reports
// whether err was the first.
func (s *stopCause) set(err error, logger *slog.Logger, msg, queue string) bool {
	s.mu.Lock()
	first := s.err == nil
	if first {
		s.err = err
	}
	s.mu.Unlock()
	if first {
		if logger == nil {
			logger = slog.Default()
		}
		logger.Error(msg, slog.String("queue", queue), slog.Any("error", err))
	}
	return first
}

// get returns the error kept, if any.
func (s *stopCause) get() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
