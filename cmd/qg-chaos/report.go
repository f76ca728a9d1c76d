package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// recoveryWindow is how long a worker process must live after a disruption
// to be expected to have worked jobs again: its workers retry every 50 ms.
const recoveryWindow = time.Second

// sessionsGoneWithin bounds the wait for the sessions of exited workers to
// end before the locks left in the database are counted.
const sessionsGoneWithin = 10 * time.Second

// Summary is the outcome of a chaos run, printed as a table or as JSON.
type Summary struct {
	Jobs             int      `json:"jobs_enqueued"`
	Completed        int      `json:"jobs_completed"`          // rows in chaos_effects
	ExactlyOnce      int      `json:"jobs_exactly_once"`       // jobs with exactly one effect
	Doubled          int      `json:"jobs_doubled"`            // jobs with more than one effect
	UnknownEffects   int      `json:"effects_of_unknown_jobs"` // effects of ids never enqueued
	WrongArgs        int      `json:"effects_with_wrong_args"`
	Lost             int      `json:"jobs_lost"`      // no effect, and gone from que_jobs
	Remaining        int      `json:"jobs_remaining"` // still in que_jobs
	Overlaps         int      `json:"overlaps"`       // runs that met a live run of the same job
	RunsWithoutLock  int      `json:"runs_without_lock"`
	LockLostMidRun   int      `json:"effects_written_without_lock"` // the lock was gone by the time the effect was written
	LocksAtShutdown  int      `json:"locks_held_at_shutdown"`       // by workers' idle sessions, after Shutdown
	LocksLeft        int      `json:"locks_left"`                   // in the scratch database at the end
	WorkersStarted   int      `json:"workers_started"`
	WorkersKilled    int      `json:"workers_killed"`
	UnexpectedExits  int      `json:"unexpected_worker_exits"`
	StuckWorkers     int      `json:"workers_stuck_at_shutdown"`
	Terminations     int      `json:"terminations"`
	SessionsEnded    int      `json:"sessions_terminated"`
	Restarts         int      `json:"postgres_restarts"`
	Recoveries       []Recov  `json:"recoveries"`
	EventsPlanned    int      `json:"events_planned"`
	EventsFired      int      `json:"events_fired"`
	DeadClaims       int      `json:"dead_claims_cleared"` // claims of killed or terminated runs met by a later run
	Batch            *Batch   `json:"batch,omitempty"`     // with -batch only
	Hostile          *Hostile `json:"hostile,omitempty"`   // with -hostile only
	Que              int      `json:"que"`                 // the table's Que generation, 0 or 2 (-que)
	Attempts         int      `json:"attempts"`
	InjectedFailures int      `json:"injected_failures"`
	Seconds          float64  `json:"seconds"`
	JobsPerSecond    float64  `json:"jobs_per_second"`
	Failures         []string `json:"failures"`
	OK               bool     `json:"ok"`
}

// Batch holds the figures of batch mode (-batch N).
type Batch struct {
	Size             int `json:"size"`                             // qg.WorkerPool.Batch of the workers
	LocklessStarts   int `json:"runs_started_after_lock_lost"`     // dead runs that found their lock gone as they began
	EffectsLockEnded int `json:"effects_after_lock_session_ended"` // committed after the supervisor ended the session holding the job's lock
}

// effectsLockEnded is EffectsLockEnded, 0 outside batch mode. Since the
// locker hands a job's lock to its transaction's session, no such effect
// can commit: the transaction dies with the session.
func (b *Batch) effectsLockEnded() int {
	if b == nil {
		return 0
	}
	return b.EffectsLockEnded
}

// Recov says how many of the worker processes alive at a disruption, and
// not killed within a second of it, worked jobs after it.
type Recov struct {
	Event    string `json:"event"`
	Expected int    `json:"expected"`
	Working  int    `json:"working"`
}

// summarize gathers the figures of the run and checks the invariants.
func (s *supervisor) summarize(runErr error) Summary {
	ctx, cancel := context.WithTimeout(context.Background(), teardownTime)
	defer cancel()
	sum := s.counters()
	failures := []string{} // [] rather than null in JSON
	if runErr != nil {
		failures = append(failures, fmt.Sprintf("the run did not finish: %v", runErr))
	}
	if err := s.queryOutcome(ctx, &sum); err != nil {
		failures = append(failures, fmt.Sprintf("could not read the outcome: %v", err))
	}
	if err := s.queryHostile(ctx, &sum); err != nil {
		failures = append(failures, fmt.Sprintf("could not read the hostile rows' outcome: %v", err))
	}
	s.countLocksLeft(ctx, &sum)
	s.checkRecoveries(ctx, &sum)
	sum.Failures = append(failures, sum.check()...)
	sum.OK = len(sum.Failures) == 0
	return sum
}

// counters fills what the supervisor counted itself.
func (s *supervisor) counters() Summary {
	c := s.chaos
	sum := Summary{Jobs: s.cfg.jobs, WorkersStarted: len(s.procs), WorkersKilled: c.kills,
		UnexpectedExits: c.unexpectedExits, Terminations: c.terminations, SessionsEnded: c.terminatedSessions,
		Restarts: c.restarts, EventsPlanned: len(c.plan), EventsFired: c.fired}
	if s.cfg.batch > 0 {
		sum.Batch = &Batch{Size: s.cfg.batch}
	}
	for _, p := range s.procs {
		if p.stuck {
			sum.StuckWorkers++
		}
	}
	for i := range s.cfg.jobs {
		if isInjectedFailure(i) {
			sum.InjectedFailures++
		}
	}
	if !s.began.IsZero() && !s.finished.IsZero() {
		d := s.finished.Sub(s.began)
		sum.Seconds = d.Seconds()
		sum.JobsPerSecond = float64(s.cfg.jobs) / d.Seconds()
	}
	return sum
}

// sqlOutcome reads the outcome from the scratch database.
const sqlOutcome = `WITH per_job AS (SELECT job_id, count(*) AS n FROM chaos_effects GROUP BY job_id)
SELECT
  (SELECT count(*) FROM chaos_effects),
  (SELECT count(*) FROM per_job JOIN chaos_enqueued USING (job_id) WHERE n = 1),
  (SELECT count(*) FROM per_job WHERE n > 1),
  (SELECT count(*) FROM per_job WHERE job_id NOT IN (SELECT job_id FROM chaos_enqueued)),
  (SELECT count(*) FROM chaos_effects AS e JOIN chaos_enqueued AS q USING (job_id) WHERE e.arg <> q.arg),
  (SELECT count(*) FROM chaos_enqueued AS q
    WHERE q.job_id NOT IN (SELECT job_id FROM per_job) AND q.job_id NOT IN (SELECT job_id FROM que_jobs)),
  (SELECT count(*) FROM que_jobs WHERE queue = $1),
  (SELECT count(*) FROM chaos_overlaps),
  (SELECT count(*) FROM chaos_unlocked),
  (SELECT count(*) FROM chaos_effects WHERE NOT locked AND NOT lock_ended),
  (SELECT count(*) FROM chaos_attempts),
  (SELECT count(*) FROM chaos_stale),
  (SELECT coalesce(sum(locks_held), 0) FROM chaos_shutdowns),
  (SELECT count(*) FROM chaos_effects WHERE NOT locked AND lock_ended),
  (SELECT count(*) FROM chaos_lockless)`

// queryOutcome fills the figures read from the scratch database.
func (s *supervisor) queryOutcome(ctx context.Context, sum *Summary) error {
	if s.db == nil {
		return fmt.Errorf("no scratch database")
	}
	var b Batch
	query := sqlOutcome
	if s.cfg.que == 2 { // the Que 2.x table's key is id
		query = strings.Replace(query, "SELECT job_id FROM que_jobs", "SELECT id FROM que_jobs", 1)
	}
	sum.Que = s.cfg.que
	err := retry(ctx, reconnectAfter, func(ctx context.Context) error {
		return s.db.QueryRowContext(ctx, query, chaosQueue).Scan(&sum.Completed, &sum.ExactlyOnce,
			&sum.Doubled, &sum.UnknownEffects, &sum.WrongArgs, &sum.Lost, &sum.Remaining,
			&sum.Overlaps, &sum.RunsWithoutLock, &sum.LockLostMidRun, &sum.Attempts, &sum.DeadClaims, &sum.LocksAtShutdown,
			&b.EffectsLockEnded, &b.LocklessStarts)
	})
	if sum.Batch != nil {
		sum.Batch.EffectsLockEnded, sum.Batch.LocklessStarts = b.EffectsLockEnded, b.LocklessStarts
	}
	return err
}

// countLocksLeft waits for the sessions of the exited workers to end, then
// counts the advisory locks left in the scratch database (-1 if unknown).
func (s *supervisor) countLocksLeft(ctx context.Context, sum *Summary) {
	sum.LocksLeft = -1
	deadline := time.Now().Add(sessionsGoneWithin)
	for time.Now().Before(deadline) {
		var others int
		err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND application_name <> 'qg-chaos-supervisor'`).Scan(&others)
		if err == nil && others == 0 {
			break
		}
		sleepCtx(ctx, pollEvery)
	}
	_ = retry(ctx, reconnectAfter, func(ctx context.Context) error {
		return s.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory'
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&sum.LocksLeft)
	})
}

// checkRecoveries counts, for each disruption, the worker processes alive
// then, and not killed within recoveryWindow after it, that committed a job
// after it.
func (s *supervisor) checkRecoveries(ctx context.Context, sum *Summary) {
	for i, d := range s.chaos.disruptions {
		var expected []string
		for _, token := range d.alive {
			p := s.procByToken(token)
			if p != nil && (p.killedAt.IsZero() || p.killedAt.Sub(d.local) >= recoveryWindow) {
				expected = append(expected, token)
			}
		}
		r := Recov{Event: fmt.Sprintf("%s #%d", d.kind, i+1), Expected: len(expected), Working: -1}
		_ = retry(ctx, reconnectAfter, func(ctx context.Context) error {
			return s.db.QueryRowContext(ctx, `SELECT count(DISTINCT token) FROM chaos_effects
WHERE token = ANY($1) AND at > $2`, expected, d.at).Scan(&r.Working)
		})
		sum.Recoveries = append(sum.Recoveries, r)
	}
}

// procByToken finds a worker process by its token.
func (s *supervisor) procByToken(token string) *proc {
	i := slices.IndexFunc(s.procs, func(p *proc) bool { return p.token == token })
	if i < 0 {
		return nil
	}
	return s.procs[i]
}

// check lists the invariants that do not hold.
func (sum Summary) check() []string {
	var f []string
	fail := func(bad bool, format string, args ...any) {
		if bad {
			f = append(f, fmt.Sprintf(format, args...))
		}
	}
	fail(sum.ExactlyOnce != sum.Jobs, "only %d of %d jobs have exactly one effect", sum.ExactlyOnce, sum.Jobs)
	fail(sum.Doubled > 0, "%d jobs committed their effect more than once", sum.Doubled)
	fail(sum.UnknownEffects > 0, "%d effects belong to jobs never enqueued", sum.UnknownEffects)
	fail(sum.WrongArgs > 0, "%d effects saw other args than enqueued", sum.WrongArgs)
	fail(sum.Lost > 0, "%d jobs were lost: gone from que_jobs without an effect", sum.Lost)
	fail(sum.Remaining > 0, "%d jobs are still in que_jobs", sum.Remaining)
	fail(sum.Overlaps > 0, "%d times a job was run by two workers at once", sum.Overlaps)
	fail(sum.RunsWithoutLock > 0, "%d runs did not hold their job's advisory lock", sum.RunsWithoutLock)
	fail(sum.LockLostMidRun > 0, "%d effects were written after their session lost the job's lock", sum.LockLostMidRun)
	fail(sum.Batch.effectsLockEnded() > 0,
		"%d effects committed after the supervisor ended the session holding their job's lock", sum.Batch.effectsLockEnded())
	fail(sum.LocksAtShutdown != 0, "%d advisory locks were held by idle sessions after WorkerPool.Shutdown", sum.LocksAtShutdown)
	fail(sum.LocksLeft != 0, "%d advisory locks were left in the database (-1: unknown)", sum.LocksLeft)
	fail(sum.UnexpectedExits > 0, "%d worker processes exited unexpectedly", sum.UnexpectedExits)
	fail(sum.StuckWorkers > 0, "%d worker processes did not stop within %s of SIGTERM", sum.StuckWorkers, stopGrace)
	fail(sum.EventsFired < sum.EventsPlanned, "only %d of %d chaos events fired before the queue was empty (raise -jobs)",
		sum.EventsFired, sum.EventsPlanned)
	fail(sum.Attempts < sum.Jobs, "only %d WorkFunc calls for %d jobs", sum.Attempts, sum.Jobs)
	sum.Hostile.check(fail)
	for _, r := range sum.Recoveries {
		fail(r.Expected == 0, "no worker process survived %s to show it recovers", r.Event)
		fail(r.Working < r.Expected, "after %s only %d of %d worker processes worked jobs again", r.Event, r.Working, r.Expected)
	}
	return f
}

// print writes the summary to stdout, as a table or as JSON.
func (s *supervisor) print(sum Summary) {
	if s.cfg.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sum)
	} else {
		s.printTable(sum)
	}
	for _, f := range sum.Failures {
		s.log.Printf("FAIL: %s", f)
	}
}

// printTable writes the summary as a table.
func (s *supervisor) printTable(sum Summary) {
	batch := ""
	if sum.Batch != nil {
		batch = fmt.Sprintf(", batch locking of %d", sum.Batch.Size)
	}
	if sum.Que == 2 {
		batch += ", on a Ruby Que 2.x table"
	}
	fmt.Printf("qg chaos run: %d jobs, %d worker processes x %d workers%s, %d kills, %d terminations, %d restarts\n",
		s.cfg.jobs, s.cfg.workers, s.cfg.concurrency, batch, s.cfg.kills, s.cfg.terminate, sum.Restarts)
	t := table{tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)}
	t.outcome(sum)
	t.chaos(sum)
	_ = t.w.Flush()
	if sum.OK {
		fmt.Println("PASS")
	} else {
		fmt.Println("FAIL")
	}
}

// table writes the rows of the summary table.
type table struct{ w *tabwriter.Writer }

// row writes a checked figure, marked ok or FAIL.
func (t table) row(name string, value any, ok bool) {
	mark := "ok"
	if !ok {
		mark = "FAIL"
	}
	fmt.Fprintf(t.w, "  %s\t%v\t%s\n", name, value, mark)
}

// info writes a figure that is not checked.
func (t table) info(name string, value any) {
	fmt.Fprintf(t.w, "  %s\t%v\t\n", name, value)
}

// outcome writes the rows about the jobs.
func (t table) outcome(sum Summary) {
	row, info := t.row, t.info
	info("jobs enqueued", sum.Jobs)
	info("jobs completed (rows in chaos_effects)", sum.Completed)
	row("jobs whose effect committed exactly once", sum.ExactlyOnce, sum.ExactlyOnce == sum.Jobs)
	row("jobs whose effect committed more than once", sum.Doubled, sum.Doubled == 0)
	row("effects of unknown jobs / with wrong args", fmt.Sprintf("%d / %d", sum.UnknownEffects, sum.WrongArgs),
		sum.UnknownEffects == 0 && sum.WrongArgs == 0)
	row("jobs lost", sum.Lost, sum.Lost == 0)
	row("jobs left in que_jobs", sum.Remaining, sum.Remaining == 0)
	row("jobs run by two workers at the same time", sum.Overlaps, sum.Overlaps == 0)
	row("runs without their job's lock (at start / at effect)", fmt.Sprintf("%d / %d", sum.RunsWithoutLock, sum.LockLostMidRun),
		sum.RunsWithoutLock == 0 && sum.LockLostMidRun == 0)
	row("advisory locks left (after Shutdown / at the end)", fmt.Sprintf("%d / %d", sum.LocksAtShutdown, sum.LocksLeft),
		sum.LocksAtShutdown == 0 && sum.LocksLeft == 0)
	if h := sum.Hostile; h != nil {
		row("hostile rows worked exactly once / more than once", fmt.Sprintf("%d of %d / %d", h.ExactlyOnce, h.Rows, h.Doubled),
			h.ExactlyOnce == h.Rows && h.Rows == hostileRounds*hostilePerRound && h.Doubled == 0)
	}
}

// chaos writes the rows about what was done to the workers, and the timing.
func (t table) chaos(sum Summary) {
	row, info := t.row, t.info
	info("worker processes started / killed -9", fmt.Sprintf("%d / %d", sum.WorkersStarted, sum.WorkersKilled))
	row("worker processes crashed / stuck at shutdown", fmt.Sprintf("%d / %d", sum.UnexpectedExits, sum.StuckWorkers),
		sum.UnexpectedExits == 0 && sum.StuckWorkers == 0)
	info("sessions terminated (rounds / sessions)", fmt.Sprintf("%d / %d", sum.Terminations, sum.SessionsEnded))
	info("postgres restarts", sum.Restarts)
	row("chaos events fired", fmt.Sprintf("%d / %d", sum.EventsFired, sum.EventsPlanned), sum.EventsFired == sum.EventsPlanned)
	row("workers working again after each disruption", recoveries(sum.Recoveries), recovered(sum.Recoveries))
	row("attempts (WorkFunc calls)", sum.Attempts, sum.Attempts >= sum.Jobs)
	info("claims of dead runs met and cleared", sum.DeadClaims)
	if b := sum.Batch; b != nil {
		info("runs that found the locker's session gone as they began", b.LocklessStarts)
		row("effects committed after their lock session was ended", b.EffectsLockEnded, b.EffectsLockEnded == 0)
	}
	info("injected failures (error or panic, rolled back)", sum.InjectedFailures)
	info("time taken", time.Duration(sum.Seconds*float64(time.Second)).Round(time.Millisecond))
	info("throughput", fmt.Sprintf("%.0f jobs/s", sum.JobsPerSecond))
}

// recoveries formats the recovery counts: "4/4, 4/4".
func recoveries(rs []Recov) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d/%d", r.Working, r.Expected)
	}
	return strings.Join(parts, ", ")
}

// recovered reports whether every disruption was followed by work of every
// surviving worker process.
func recovered(rs []Recov) bool {
	for _, r := range rs {
		if r.Expected == 0 || r.Working < r.Expected {
			return false
		}
	}
	return true
}
