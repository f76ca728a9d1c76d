package qg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pdList is a Schedule of fixed ticks, in order.
type pdList []time.Time

func (l pdList) Next(t time.Time) time.Time {
	for _, u := range l {
		if u.After(t) {
			return u
		}
	}
	return time.Time{}
}

// pdTickJob builds jobs of queue that carry their tick, in microseconds since
// the Unix epoch, as their only argument.
func pdTickJob(queue string) func(time.Time) *Job {
	return func(tick time.Time) *Job {
		return &Job{Queue: queue, Type: "Tick", Args: []byte(fmt.Sprintf("[%d]", tick.UnixMicro()))}
	}
}

// pdSetup returns a Client and the test's queue, also used as the periodic
// job's name; the queue's jobs and the name's row are removed after the test.
func pdSetup(t *testing.T) (*Client, string) {
	t.Helper()
	c, q := setup(t)
	t.Cleanup(func() {
		if _, err := testDB.Exec(`DELETE FROM que_jobs WHERE queue = $1`, q); err != nil {
			t.Error(err)
		}
		if _, err := testDB.Exec(`DELETE FROM qg_periodic WHERE name = $1`, q); err != nil {
			t.Error(err)
		}
	})
	return c, q
}

// pdTicks returns the ticks carried by queue's jobs, in order, duplicates
// included.
func pdTicks(t *testing.T, queue string) []int64 {
	t.Helper()
	rows, err := testDB.Query(`SELECT (args->>0)::bigint FROM que_jobs WHERE queue = $1 ORDER BY 1`, queue)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ticks []int64
	for rows.Next() {
		var tick int64
		if err := rows.Scan(&tick); err != nil {
			t.Fatal(err)
		}
		ticks = append(ticks, tick)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ticks
}

// pdLastTick reads the latest claimed tick of name.
func pdLastTick(t *testing.T, name string) time.Time {
	t.Helper()
	var last time.Time
	if err := testDB.QueryRow(`SELECT last_tick FROM qg_periodic WHERE name = $1`, name).Scan(&last); err != nil {
		t.Fatal(err)
	}
	return last
}

// pdRun runs s in a goroutine; the returned stop ends it and checks that Run
// returned nil. It is also called after the test.
func pdRun(t *testing.T, s *Scheduler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// pdWait polls cond until it holds, failing the test after timeout.
func pdWait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// pdContains reports whether ticks holds tick.
func pdContains(ticks []int64, tick time.Time) bool {
	for _, v := range ticks {
		if v == tick.UnixMicro() {
			return true
		}
	}
	return false
}

// pdLogs collects a Scheduler's log records.
type pdLogs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *pdLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *pdLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *pdLogs) logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level}))
}

func TestSchedulerClaimsEachTickOnce(t *testing.T) {
	t.Parallel()
	c, q := pdSetup(t)
	tick := time.Now().Truncate(time.Second)
	const racers = 8
	start := make(chan struct{})
	claimed := make(chan bool, racers)
	for range racers {
		s := NewScheduler(c)
		go func() {
			<-start
			ok, err := s.claim(context.Background(), q, tick, pdTickJob(q)(tick))
			if err != nil {
				t.Error(err)
			}
			claimed <- ok
		}()
	}
	close(start)
	wins := 0
	for range racers {
		if <-claimed {
			wins++
		}
	}
	if ticks := pdTicks(t, q); wins != 1 || len(ticks) != 1 {
		t.Fatalf("%d racers claimed the tick, %d jobs enqueued; want 1 and 1", wins, len(ticks))
	}
	s := NewScheduler(c)
	for _, tc := range []struct {
		tick time.Time
		want bool
	}{{tick, false}, {tick.Add(-time.Second), false}, {tick.Add(time.Second), true}} {
		ok, err := s.claim(context.Background(), q, tc.tick, pdTickJob(q)(tc.tick))
		if err != nil || ok != tc.want {
			t.Errorf("claim %s after %s: %v, %v; want %v", tc.tick, tick, ok, err, tc.want)
		}
	}
	if n := len(pdTicks(t, q)); n != 2 {
		t.Errorf("%d jobs, want 2", n)
	}
}

// Two Schedulers on two pools run the same fast schedule: each tick is
// enqueued once, and a tick is skipped only when a Scheduler said it fell a
// whole interval behind.
func TestSchedulerRunsTogether(t *testing.T) {
	t.Parallel()
	c, q := pdSetup(t)
	const interval = 100 * time.Millisecond
	var logs pdLogs
	for range 2 {
		c2, err := NewClient2(openDB(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c2.Close)
		s := NewScheduler(c2)
		s.Logger = logs.logger(slog.LevelWarn)
		if err := s.Register(PeriodicJob{Name: q, Schedule: Every(interval), Job: pdTickJob(q)}); err != nil {
			t.Fatal(err)
		}
		defer pdRun(t, s)()
	}
	_ = c
	pdWait(t, 20*time.Second, "15 ticks", func() bool { return len(pdTicks(t, q)) >= 15 })
	ticks := pdTicks(t, q)
	gaps := 0
	for i := 1; i < len(ticks); i++ {
		switch d := time.Duration(ticks[i]-ticks[i-1]) * time.Microsecond; {
		case d == 0:
			t.Errorf("tick %d enqueued twice", ticks[i])
		case d != interval:
			gaps++
		}
	}
	if gaps > 0 && !strings.Contains(logs.String(), "periodic ticks missed") {
		t.Errorf("%d gaps in the ticks %v, and no Scheduler reported missed ticks", gaps, ticks)
	}
}

func TestSchedulerMissedTicks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		seen       bool // the name was seen before the ticks of the past
		skipMissed bool
		catchUp    bool // the latest tick of the past is enqueued
	}{
		{"CatchUpLatestOnce", true, false, true},
		{"SkipMissed", true, true, false},
		{"NewName", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, q := pdSetup(t)
			now := time.Now().Truncate(time.Microsecond)
			soon := now.Add(time.Second) // leaves Run time to start before it
			sched := pdList{now.Add(-3 * time.Hour), now.Add(-2 * time.Hour), now.Add(-time.Hour), soon, now.Add(time.Hour)}
			if tc.seen {
				if _, err := testDB.Exec(`INSERT INTO qg_periodic (name, last_tick) VALUES ($1, $2)`, q, now.Add(-4*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			s := NewScheduler(c)
			err := s.Register(PeriodicJob{Name: q, Schedule: sched, Job: pdTickJob(q), SkipMissed: tc.skipMissed})
			if err != nil {
				t.Fatal(err)
			}
			stop := pdRun(t, s)
			pdWait(t, 10*time.Second, "the job of the next tick", func() bool { return pdContains(pdTicks(t, q), soon) })
			stop()
			want := []int64{soon.UnixMicro()}
			if tc.catchUp {
				want = []int64{now.Add(-time.Hour).UnixMicro(), soon.UnixMicro()}
			}
			if got := pdTicks(t, q); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("ticks enqueued %v, want %v", got, want)
			}
			if last := pdLastTick(t, q); !last.Equal(soon) {
				t.Errorf("last tick %s, want %s", last, soon)
			}
		})
	}
}

// The claim of a tick and the enqueue of its job commit together: when the
// insert fails, the claim is undone and the tick is retried, not lost.
func TestSchedulerRetriesFailedEnqueue(t *testing.T) {
	t.Parallel()
	c, q := pdSetup(t)
	tick := time.Now().Add(200 * time.Millisecond).Truncate(time.Microsecond)
	// The name was seen before the tick, so the tick is enqueued even if
	// Run starts after it.
	if _, err := testDB.Exec(`INSERT INTO qg_periodic (name, last_tick) VALUES ($1, now() - interval '1 minute')`, q); err != nil {
		t.Fatal(err)
	}
	// A queue name too long for que_jobs' primary key index: random hex
	// does not compress below the index's limit (2704 bytes).
	var unindexable string
	for i := 0; len(unindexable) < 12000; i++ {
		unindexable += fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprint(i))))
	}
	var calls atomic.Int32
	var logs pdLogs
	s := NewScheduler(c)
	s.Logger = logs.logger(slog.LevelWarn)
	err := s.Register(PeriodicJob{Name: q, Schedule: pdList{tick}, Job: func(tick time.Time) *Job {
		if calls.Add(1) == 1 {
			return &Job{Queue: unindexable, Type: "T"} // valid for qg, refused by PostgreSQL
		}
		return pdTickJob(q)(tick)
	}})
	if err != nil {
		t.Fatal(err)
	}
	stop := pdRun(t, s)
	pdWait(t, 10*time.Second, "the retried job", func() bool { return len(pdTicks(t, q)) > 0 })
	stop()
	if got := pdTicks(t, q); calls.Load() != 2 || len(got) != 1 || got[0] != tick.UnixMicro() {
		t.Errorf("Job called %d times, ticks %v; want 2 calls and tick %d", calls.Load(), got, tick.UnixMicro())
	}
	if !strings.Contains(logs.String(), "will retry") {
		t.Errorf("the failure was not logged: %s", logs.String())
	}
}

// A nil Job claims its tick and enqueues nothing; a Job that cannot be
// enqueued skips its tick with an error logged, and the next tick goes on.
func TestSchedulerNilAndInvalidJobs(t *testing.T) {
	t.Parallel()
	c, q := pdSetup(t)
	now := time.Now().Truncate(time.Microsecond)
	ticks := pdList{now.Add(time.Second), now.Add(1300 * time.Millisecond), now.Add(1600 * time.Millisecond)}
	var logs pdLogs
	s := NewScheduler(c)
	s.Logger = logs.logger(slog.LevelError)
	err := s.Register(PeriodicJob{Name: q, Schedule: ticks, Job: func(tick time.Time) *Job {
		switch {
		case tick.Equal(ticks[0]):
			return nil
		case tick.Equal(ticks[1]):
			return &Job{Queue: q} // no Type
		}
		return pdTickJob(q)(tick)
	}})
	if err != nil {
		t.Fatal(err)
	}
	stop := pdRun(t, s)
	pdWait(t, 10*time.Second, "the last tick's job", func() bool { return len(pdTicks(t, q)) > 0 })
	stop()
	if got := pdTicks(t, q); len(got) != 1 || got[0] != ticks[2].UnixMicro() {
		t.Errorf("ticks %v, want only %d", got, ticks[2].UnixMicro())
	}
	if msg := logs.String(); !strings.Contains(msg, "periodic job skipped") || !strings.Contains(msg, ErrMissingType.Error()) {
		t.Errorf("the skipped tick was not logged: %s", msg)
	}
}

func TestSchedulerRegisterAndRunErrors(t *testing.T) {
	t.Parallel()
	c, q := pdSetup(t)
	s := NewScheduler(c)
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no periodic job registered") {
		t.Errorf("Run with nothing registered: %v", err)
	}
	good := PeriodicJob{Name: q, Schedule: Every(time.Hour), Job: pdTickJob(q)}
	for _, p := range []PeriodicJob{{Schedule: good.Schedule, Job: good.Job}, {Name: q, Job: good.Job}, {Name: q, Schedule: good.Schedule}} {
		if err := s.Register(p); err == nil {
			t.Errorf("Register(%+v) accepted", p)
		}
	}
	if err := s.Register(good); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(good); err == nil || !strings.Contains(err.Error(), "registered twice") {
		t.Errorf("second Register: %v", err)
	}
	pdRun(t, s)
	pdWait(t, 10*time.Second, "Run to start", func() bool {
		return s.Register(PeriodicJob{Name: "other", Schedule: good.Schedule, Job: good.Job}) != nil
	})
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}

	closed, err := NewClient2(testDB)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	s2 := NewScheduler(closed)
	if err := s2.Register(good); err != nil {
		t.Fatal(err)
	}
	if err := s2.Run(context.Background()); !errors.Is(err, ErrClientClosed) {
		t.Errorf("Run on a closed Client: %v", err)
	}
}

// Run refuses to start without the qg_periodic table, and says what to do.
func TestSchedulerNeedsMigrate(t *testing.T) {
	t.Parallel()
	db := scratchDB(t)
	if _, err := db.Exec(Schema); err != nil { // que_jobs only
		t.Fatal(err)
	}
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := NewScheduler(c)
	if err := s.Register(PeriodicJob{Name: "n", Schedule: Every(time.Hour), Job: pdTickJob("q")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "run qg.Migrate") {
		t.Errorf("Run without qg_periodic: %v", err)
	}
}
