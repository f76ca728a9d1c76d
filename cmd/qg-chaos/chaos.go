package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strconv"
	"time"
)

// eventKind is a kind of chaos event.
type eventKind string

// The chaos events.
const (
	eventKill      eventKind = "kill -9"
	eventTerminate eventKind = "terminate sessions"
	eventRestart   eventKind = "restart postgres"
)

// The chaos events are spread over this part of the run, as fractions of the
// jobs done, so every event lands while plenty of jobs remain and the
// workers have jobs to show they recovered.
const (
	firstEventAt = 0.10
	lastEventAt  = 0.70
)

// victimMinAge is how long a worker process must have run before it is
// preferred as a victim: by then it is well into its jobs.
const victimMinAge = 500 * time.Millisecond

// maxKillDelay is how long a due kill waits for a worker process that is in
// the middle of a job.
const maxKillDelay = 2 * time.Second

// plannedEvent is a chaos event due once a fraction at of the jobs is done.
type plannedEvent struct {
	kind eventKind
	at   float64
}

// disruption is a server-side disconnection of every worker: when it was
// over (by the server's clock, and by ours) and which worker processes were
// alive then.
type disruption struct {
	kind  eventKind
	at    time.Time
	local time.Time
	alive []string
}

// chaosState is what the supervisor did to the workers.
type chaosState struct {
	plan     []plannedEvent
	fired    int
	last     time.Time // when the last event was over
	dueSince time.Time // when the next event became due

	kills, terminations, terminatedSessions, restarts, unexpectedExits int
	disruptions                                                        []disruption
}

// planEvents orders the events so that each kind is spread evenly over the
// run (kills between terminations, say), then places them evenly between
// firstEventAt and lastEventAt.
func planEvents(kills, terminations int, restart bool) []plannedEvent {
	var plan []plannedEvent
	add := func(kind eventKind, n int) {
		for i := range n {
			plan = append(plan, plannedEvent{kind, float64(i+1) / float64(n+1)})
		}
	}
	add(eventKill, kills)
	add(eventTerminate, terminations)
	if restart {
		add(eventRestart, 1)
	}
	slices.SortStableFunc(plan, func(a, b plannedEvent) int { return cmpFloat(a.at, b.at) })
	for i := range plan {
		plan[i].at = (firstEventAt + lastEventAt) / 2
		if len(plan) > 1 {
			plan[i].at = firstEventAt + (lastEventAt-firstEventAt)*float64(i)/float64(len(plan)-1)
		}
	}
	return plan
}

// cmpFloat compares two floats for sorting.
func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fireDue fires the next planned event once its share of the jobs is done
// and the previous event is minEventGap behind.
func (s *supervisor) fireDue(ctx context.Context, done int) error {
	c := &s.chaos
	if c.fired >= len(c.plan) || time.Since(c.last) < minEventGap {
		return nil
	}
	ev := c.plan[c.fired]
	if float64(done) < ev.at*float64(s.cfg.jobs) {
		return nil
	}
	if c.dueSince.IsZero() {
		c.dueSince = time.Now()
	}
	var victim *proc
	var busy int
	if ev.kind == eventKill {
		victim, busy = s.chooseVictim(ctx)
		if busy == 0 && time.Since(c.dueSince) < maxKillDelay {
			return nil // wait for a moment when a job is in flight
		}
	}
	c.fired++
	c.dueSince = time.Time{}
	defer func() { c.last = time.Now() }()
	what, err := s.fire(ctx, ev.kind, victim, busy)
	if err != nil {
		return err
	}
	s.log.Printf("chaos %d/%d at %d/%d jobs done: %s", c.fired, len(c.plan), done, s.cfg.jobs, what)
	return nil
}

// fire does one chaos event and says what it did; victim and busy are
// those of a kill.
func (s *supervisor) fire(ctx context.Context, kind eventKind, victim *proc, busy int) (string, error) {
	switch kind {
	case eventKill:
		return s.killOne(ctx, victim, busy)
	case eventTerminate:
		return s.terminateAll(ctx)
	default:
		return s.restartServer(ctx)
	}
}

// killOne kills victim, a worker process working busy jobs, with SIGKILL
// and starts a replacement; it says what it did.
func (s *supervisor) killOne(ctx context.Context, victim *proc, busy int) (string, error) {
	if victim == nil {
		return "", errors.New("kill: no live worker process")
	}
	if err := s.kill9(ctx, victim); err != nil {
		return "", err
	}
	s.chaos.kills++
	repl, err := s.startWorker()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("kill -9 worker pid %d (%d jobs in flight, up %s); replacement pid %d",
		victim.pid(), busy, time.Since(victim.started).Round(time.Millisecond), repl.pid()), nil
}

// chooseVictim picks a live worker process, preferring those up for a while
// and those working jobs now; busy is how many jobs it is working.
func (s *supervisor) chooseVictim(ctx context.Context) (victim *proc, busy int) {
	var candidates []*proc
	for _, p := range s.liveProcs() {
		if time.Since(p.started) >= victimMinAge {
			candidates = append(candidates, p)
		}
	}
	if len(candidates) == 0 {
		candidates = s.liveProcs()
	}
	if len(candidates) == 0 {
		return nil, 0
	}
	inFlight := s.jobsInFlight(ctx)
	var working []*proc
	for _, p := range candidates {
		if inFlight[p.token] > 0 {
			working = append(working, p)
		}
	}
	if len(working) > 0 {
		candidates = working
	}
	victim = candidates[rand.IntN(len(candidates))]
	return victim, inFlight[victim.token]
}

// jobsInFlight counts the claims of each worker process in chaos_running;
// on error it returns what it has, a preference only.
func (s *supervisor) jobsInFlight(ctx context.Context) map[string]int {
	counts := map[string]int{}
	rows, err := s.db.QueryContext(ctx, `SELECT token, count(*) FROM chaos_running GROUP BY token`)
	if err != nil {
		return counts
	}
	defer rows.Close()
	for rows.Next() {
		var token string
		var n int
		if rows.Scan(&token, &n) == nil {
			counts[token] = n
		}
	}
	return counts
}

// terminateAll ends every session of the scratch database but its own, as a
// database restart would, and records the disruption; it says what it did.
func (s *supervisor) terminateAll(ctx context.Context) (string, error) {
	s.chaos.terminations++
	round := s.chaos.terminations
	var n int
	err := retry(ctx, reconnectAfter, func(ctx context.Context) error {
		var err error
		n, err = s.terminateRound(ctx, round)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("terminate sessions: %w", err)
	}
	s.chaos.terminatedSessions += n
	what := fmt.Sprintf("pg_terminate_backend ended all %d other sessions of %s", n, s.name)
	return what, s.recordDisruption(ctx, eventTerminate)
}

// terminateRound records the sessions of the scratch database in
// chaos_terminated, then ends them, all on one session of the supervisor's,
// excluded from both. Recording first means a worker that meets the claim of
// a terminated run knows that run is dead.
func (s *supervisor) terminateRound(ctx context.Context, round int) (int, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `INSERT INTO chaos_terminated (pid, backend_start, application_name, round)
SELECT pid, backend_start, application_name, $1 FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_start IS NOT NULL
ON CONFLICT DO NOTHING`, round)
	if err != nil {
		return 0, err
	}
	var n int
	err = conn.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid))
FROM pg_stat_activity AS a
JOIN chaos_terminated AS t ON t.pid = a.pid AND t.backend_start = a.backend_start
WHERE t.round = $1`, round).Scan(&n)
	if err != nil {
		return 0, err
	}
	return n, waitSessionsGone(ctx, conn, round)
}

// waitSessionsGone waits until the sessions of round have ended. (The
// two-argument pg_terminate_backend waits too, but one session after the
// other, polling every 100 ms each.)
func waitSessionsGone(ctx context.Context, conn *sql.Conn, round int) error {
	for {
		var left int
		err := conn.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity AS a
JOIN chaos_terminated AS t ON t.pid = a.pid AND t.backend_start = a.backend_start
WHERE t.round = $1`, round).Scan(&left)
		if err != nil || left == 0 {
			return err
		}
		if !sleepCtx(ctx, 5*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// restartServer restarts the local PostgreSQL with pg_ctlcluster and waits
// for it to answer again; it says what it did.
func (s *supervisor) restartServer(ctx context.Context) (string, error) {
	major := strconv.Itoa(s.version / 10000)
	cluster := s.cfg.pgCluster
	s.log.Printf("restarting PostgreSQL %s (pg_ctlcluster --skip-systemctl-redirect %s %s restart)", major, major, cluster)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, "pg_ctlcluster", "--skip-systemctl-redirect", major, cluster, "restart").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("restart PostgreSQL: %v: %s", err, out)
	}
	s.chaos.restarts++
	t0 := time.Now()
	if err := s.recordDisruption(ctx, eventRestart); err != nil {
		return "", err
	}
	return fmt.Sprintf("PostgreSQL %s restarted; reconnected in %s", major, time.Since(t0).Round(time.Millisecond)), nil
}

// recordDisruption notes when a disruption was over and which workers were
// alive then: the report checks each of them worked jobs afterwards.
func (s *supervisor) recordDisruption(ctx context.Context, kind eventKind) error {
	at, err := s.serverNow(ctx)
	if err != nil {
		return fmt.Errorf("reconnect after %s: %w", kind, err)
	}
	d := disruption{kind: kind, at: at, local: time.Now(), alive: s.liveTokens()}
	s.chaos.disruptions = append(s.chaos.disruptions, d)
	return nil
}
