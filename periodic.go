package qg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Schedule gives the ticks of a periodic job. Next returns the first tick
// strictly after t, or the zero time when the schedule has no more ticks.
// It must be deterministic, so that every process running the same schedule
// computes the same ticks. [Every] and [Cron] are Schedules.
type Schedule interface {
	Next(t time.Time) time.Time
}

// Every returns a Schedule that ticks every d, at the multiples of d since
// the zero time (time.Time{}), whatever the time zone: Every(time.Hour)
// ticks on the hour, Every(24*time.Hour) at midnight UTC, and
// Every(200*time.Millisecond) at .0, .2, .4 ... of each second. So every
// process computes the same ticks. d is truncated to whole microseconds,
// PostgreSQL's precision; Every panics when that leaves nothing, as
// time.NewTicker panics on a non-positive interval.
func Every(d time.Duration) Schedule {
	d = d.Truncate(time.Microsecond)
	if d <= 0 {
		panic("qg: Every: the interval must be at least a microsecond")
	}
	return every(d)
}

type every time.Duration

// Next returns the first multiple of the interval after t.
func (e every) Next(t time.Time) time.Time {
	return t.Truncate(time.Duration(e)).Add(time.Duration(e))
}

// PeriodicJob is a job a [Scheduler] enqueues on each tick of a Schedule.
type PeriodicJob struct {
	// Name identifies the schedule in the qg_periodic table. Every process
	// that registers the same Name shares its ticks: each tick is enqueued
	// once among them all. Required.
	Name string

	// Schedule gives the ticks. Required.
	Schedule Schedule

	// Job returns the job to enqueue for tick, with the rules of
	// [Client.EnqueueContext] (a zero RunAt means now). It may be called
	// more than once for a tick (when an attempt fails and is retried) and
	// in several processes, so it should only build the Job. A nil Job
	// claims the tick without enqueueing anything; a Job that cannot be
	// enqueued (no Type, invalid Args) skips the tick, with an error logged.
	// Required.
	Job func(tick time.Time) *Job

	// SkipMissed makes a Scheduler enqueue only ticks that come due after
	// its Run began. By default, a Scheduler that starts after ticks were
	// missed (while no Scheduler of the Name ran) enqueues the latest of
	// them, once. See [Scheduler] for the whole rule.
	SkipMissed bool
}

// Scheduler enqueues periodic jobs: on each tick of a [PeriodicJob]'s
// Schedule it enqueues the job the PeriodicJob builds. Run it in any number
// of processes: each tick is enqueued exactly once among them. Make one with
// [NewScheduler]; the zero value has no Client and cannot run.
//
// A tick is claimed by moving the Name's row of the qg_periodic table (which
// [Migrate] creates) forward to the tick, in the transaction that enqueues
// its job: a tick is claimed only if it is later than the last one claimed,
// so a crash at any point loses nothing and doubles nothing, and the job is
// an ordinary que_jobs row that any worker, Ruby Que's included, can work.
// A claim waits on the Name's row lock, never on an advisory lock, so it
// can never collide with a job's lock. Schedulers must run on clocks kept in
// step (NTP): a clock that is ahead claims ticks early.
//
// The rule for missed ticks: each time a Scheduler wakes, the ticks that
// came due since the last one it handled (claimed, or found claimed by
// another) collapse into the latest of them, which it enqueues once; the
// earlier ones are skipped, never enqueued in a burst. A Scheduler wakes at every tick, so while at
// least one Scheduler of a Name runs and keeps up (is never a whole interval
// late), every tick is enqueued, exactly once. Ticks are missed when every
// Scheduler of the Name was stopped, suspended or cut off from the database
// from a tick until the next one came due. A Scheduler that starts after such
// an outage enqueues the latest missed tick at once, unless the PeriodicJob
// has SkipMissed. A Name seen for the first time starts at the Run that
// registers it: no earlier tick is enqueued.
//
// An attempt that fails (the database is unreachable, the insert fails) is
// retried after a second, then after longer delays up to a minute, as long
// as its tick is the latest due.
type Scheduler struct {
	// MaxSleep bounds how long the Scheduler sleeps between looks at its
	// schedules, so that it notices a change of the wall clock. Zero means
	// one minute. It never polls faster than its ticks come.
	MaxSleep time.Duration

	// Logger receives structured records of enqueued periodic jobs (at
	// Debug), skipped ticks (Warn) and failed attempts (Error). Nil means
	// silent.
	Logger *slog.Logger

	c *Client

	mu      sync.Mutex
	jobs    []*periodic
	running bool
}

// periodic is a PeriodicJob and where its Scheduler is in its ticks.
type periodic struct {
	PeriodicJob
	after    time.Time // ticks up to this one are done: claimed, or seen claimed
	next     time.Time // the first tick after after; zero: no more
	retryAt  time.Time // when a failed attempt is retried; zero: none failed
	failures int       // failed attempts in a row
}

// NewScheduler returns a Scheduler that enqueues through c. Register its
// PeriodicJobs, then call Run.
// It panics when c is nil (see [NewClient]).
func NewScheduler(c *Client) *Scheduler {
	mustClient(c, "NewScheduler")
	return &Scheduler{c: c}
}

// Register adds a PeriodicJob. It returns an error when the PeriodicJob lacks
// a Name, Schedule or Job, when its Name is registered already, or when Run
// has started.
func (s *Scheduler) Register(p PeriodicJob) error {
	switch {
	case p.Name == "":
		return errors.New("qg: register periodic job: empty Name")
	case p.Schedule == nil || p.Job == nil:
		return fmt.Errorf("qg: register periodic job %q: Schedule and Job are required", p.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return fmt.Errorf("qg: register periodic job %q: the Scheduler is running", p.Name)
	}
	for _, j := range s.jobs {
		if j.Name == p.Name {
			return fmt.Errorf("qg: register periodic job %q: registered twice", p.Name)
		}
	}
	s.jobs = append(s.jobs, &periodic{PeriodicJob: p})
	return nil
}

// Run enqueues the registered PeriodicJobs' ticks until ctx ends, then
// returns nil. It sleeps until the next tick (at most MaxSleep), never
// polling. It returns an error when it cannot start: nothing is registered,
// Run is already running, or the database is unreachable or lacks the
// qg_periodic table (run [Migrate]). Once started, database errors are logged
// and retried; it returns [ErrClientClosed] when its Client is closed.
func (s *Scheduler) Run(ctx context.Context) error {
	if err := s.start(); err != nil {
		return err
	}
	defer s.stop()
	if err := s.load(ctx, time.Now()); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	for {
		if s.c.isClosed() {
			return ErrClientClosed
		}
		wake := s.fireDue(ctx, time.Now())
		if !sleepUntil(ctx, wake, s.maxSleep()) {
			return nil
		}
	}
}

func (s *Scheduler) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.running:
		return errors.New("qg: scheduler: Run is already running")
	case len(s.jobs) == 0:
		return errors.New("qg: scheduler: no periodic job registered")
	}
	s.running = true
	return nil
}

func (s *Scheduler) stop() {
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
}

func (s *Scheduler) maxSleep() time.Duration {
	if s.MaxSleep > 0 {
		return s.MaxSleep
	}
	return time.Minute
}

// fireDue claims the latest due tick of each PeriodicJob and returns when
// the Scheduler should look again.
func (s *Scheduler) fireDue(ctx context.Context, now time.Time) time.Time {
	var wake time.Time
	for _, p := range s.jobs {
		if ctx.Err() != nil {
			return now
		}
		if !p.next.IsZero() && !p.next.After(now) && !p.retryAt.After(now) {
			s.fire(ctx, p, now)
		}
		at := p.next
		if !p.retryAt.IsZero() {
			at = p.retryAt
		}
		if !at.IsZero() && (wake.IsZero() || at.Before(wake)) {
			wake = at
		}
	}
	return wake
}

// fire claims p's latest due tick and enqueues its job.
func (s *Scheduler) fire(ctx context.Context, p *periodic, now time.Time) {
	tick := latestDue(p.Schedule, p.after, now)
	if !tick.Equal(p.next) {
		s.log(slog.LevelWarn, "qg: periodic ticks missed, enqueueing the latest only",
			slog.String("periodic", p.Name), slog.Time("first_missed", p.next), slog.Time("tick", tick))
	}
	job, err := buildJob(p, tick)
	if err != nil {
		s.log(slog.LevelError, "qg: periodic job skipped", slog.String("periodic", p.Name),
			slog.Time("tick", tick), slog.Any("error", err))
		p.advance(tick)
		return
	}
	claimed, err := s.claim(ctx, p.Name, tick, job)
	if err != nil {
		if ctx.Err() == nil {
			p.failed(now)
			s.log(slog.LevelError, "qg: periodic job not enqueued, will retry", slog.String("periodic", p.Name),
				slog.Time("tick", tick), slog.Time("retry_at", p.retryAt), slog.Any("error", err))
		}
		return
	}
	p.advance(tick)
	if claimed && job != nil {
		s.log(slog.LevelDebug, "qg: periodic job enqueued", append(jobAttrs(job),
			slog.String("periodic", p.Name), slog.Time("tick", tick))...)
	}
}

// buildJob calls p.Job and checks the job, recovering a panic as an error.
func buildJob(p *periodic, tick time.Time) (job *Job, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("qg: periodic job %q: Job panicked: %v", p.Name, v)
		}
	}()
	job = p.Job(tick)
	if job == nil {
		return nil, nil
	}
	if err := validateJob(job); err != nil {
		return nil, fmt.Errorf("qg: periodic job %q: %w", p.Name, err)
	}
	return job, nil
}

// advance marks the ticks up to tick done.
func (p *periodic) advance(tick time.Time) {
	p.after, p.next = tick, nextTick(p.Schedule, tick)
	p.retryAt, p.failures = time.Time{}, 0
}

// failed schedules the retry of a failed attempt: after 1 s, 2 s, 4 s ...
// up to a minute.
func (p *periodic) failed(now time.Time) {
	p.failures++
	p.retryAt = now.Add(min(time.Second<<min(p.failures-1, 6), time.Minute))
}

func (s *Scheduler) log(level slog.Level, msg string, attrs ...any) {
	if s.Logger != nil {
		s.Logger.Log(context.Background(), level, msg, attrs...)
	}
}

// nextTick is s.Next(after), or the zero time when s has no tick after it
// (a Next that does not move forward counts as the end).
func nextTick(s Schedule, after time.Time) time.Time {
	t := s.Next(after)
	if !t.After(after) {
		return time.Time{}
	}
	return t
}

// maxLookBack bounds latestDue's windows, far below time.Duration's limit.
const maxLookBack = 100 * 365 * 24 * time.Hour

// latestDue returns the latest tick of s in (after, now]; the caller knows
// there is one. After a long outage it looks back from now in doubling
// windows instead of walking every missed tick.
func latestDue(s Schedule, after, now time.Time) time.Time {
	t := nextTick(s, after)
	for w := time.Millisecond; w < maxLookBack && now.Add(-w).After(t); w *= 2 {
		if u := nextTick(s, now.Add(-w)); !u.IsZero() && !u.After(now) {
			if u.After(t) {
				t = u
			}
			break
		}
	}
	for range 1 << 16 {
		u := nextTick(s, t)
		if u.IsZero() || u.After(now) {
			break
		}
		t = u
	}
	return t
}

// sleepUntil waits until wake (zero: no tick to wait for), at most max; it
// reports false when ctx ended first.
func sleepUntil(ctx context.Context, wake time.Time, max time.Duration) bool {
	d := max
	if !wake.IsZero() {
		d = min(time.Until(wake), max)
	}
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
