package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testURLEnv names the server the test runs on; defaultDatabaseURL when
// unset.
const testURLEnv = "QG_TEST_DATABASE_URL"

// runBudget bounds each chaos run of the tests.
const runBudget = 50 * time.Second

// TestChaos runs the command at a small size, with kills and a session
// termination, and checks it passes with every invariant in its summary.
//
// The chaos runs are not parallel: each opens some forty sessions, and the
// test server is shared.
func TestChaos(t *testing.T) {
	bin, url := buildCommand(t), testServer(t)
	sum, code, stderr := runChaos(t, bin, "-database-url", url, "-jobs", "2000", "-workers", "3",
		"-concurrency", "4", "-kills", "2", "-terminate", "1")
	checkPassed(t, sum, code, stderr)
	if sum.Batch != nil {
		t.Errorf("batch figures %+v in the default mode", *sum.Batch)
	}
}

// TestChaosBatch runs the command as TestChaos does, with the workers in
// qg's batch locking mode.
func TestChaosBatch(t *testing.T) {
	bin, url := buildCommand(t), testServer(t)
	sum, code, stderr := runChaos(t, bin, "-database-url", url, "-jobs", "2000", "-workers", "3",
		"-concurrency", "4", "-kills", "2", "-terminate", "1", "-batch", "16")
	checkPassed(t, sum, code, stderr)
	if sum.Batch == nil || sum.Batch.Size != 16 {
		t.Errorf("batch figures %+v, want size 16", sum.Batch)
	}
}

// TestChaosQue2 runs the command as TestChaos does, with 1000 jobs, on a
// Ruby Que 2.x table (qg.MigrateQue2), whose que_state_notify trigger
// makes every job's delete a NOTIFY: such commits are serialized by the
// server, so the run gets twice the budget. (Its batch mode, -batch 16 -que 2, is run by
// hand: see README.md's Reliability.)
func TestChaosQue2(t *testing.T) {
	bin, url := buildCommand(t), testServer(t)
	sum, code, stderr := runChaosFor(t, 2*runBudget, bin, "-database-url", url, "-jobs", "1000", "-workers", "3",
		"-concurrency", "4", "-kills", "2", "-terminate", "1", "-que", "2")
	checkPassedN(t, sum, code, stderr, 1000)
	if sum.Que != 2 {
		t.Errorf("the summary's table is Que %d, want 2", sum.Que)
	}
}

// checkPassed checks the summary of a run of 2000 jobs with 2 kills and 1
// termination round shows every invariant held.
func checkPassed(t *testing.T, sum Summary, code int, stderr string) {
	t.Helper()
	checkPassedN(t, sum, code, stderr, 2000)
}

// checkPassedN is checkPassed for a run of jobs jobs.
func checkPassedN(t *testing.T, sum Summary, code int, stderr string, jobs int) {
	t.Helper()
	if code != exitOK || !sum.OK {
		t.Fatalf("exit code %d, failures %q; stderr:\n%s", code, sum.Failures, stderr)
	}
	want := map[string][2]int{
		"jobs_exactly_once":   {sum.ExactlyOnce, jobs},
		"jobs_completed":      {sum.Completed, jobs},
		"jobs_doubled":        {sum.Doubled, 0},
		"jobs_lost":           {sum.Lost, 0},
		"jobs_remaining":      {sum.Remaining, 0},
		"overlaps":            {sum.Overlaps, 0},
		"runs_without_lock":   {sum.RunsWithoutLock, 0},
		"locks_left":          {sum.LocksLeft, 0},
		"workers_killed":      {sum.WorkersKilled, 2},
		"terminations":        {sum.Terminations, 1},
		"unexpected_exits":    {sum.UnexpectedExits, 0},
		"workers_stuck":       {sum.StuckWorkers, 0},
		"events_fired":        {sum.EventsFired, 3},
		"recoveries recorded": {len(sum.Recoveries), 1},
	}
	for name, got := range want {
		if got[0] != got[1] {
			t.Errorf("%s = %d, want %d", name, got[0], got[1])
		}
	}
	if sum.Attempts < jobs {
		t.Errorf("attempts = %d, want at least %d", sum.Attempts, jobs)
	}
}

// TestChaosDetectsOverlap runs the command with a deliberate bug, runs that
// release their job's lock early, and checks the run fails on it: the
// checks can fail.
//
// An overlap needs another worker process to walk to the job in the window
// the fault opens, which a loaded machine can miss, so the run is tried up
// to faultAttempts times: the checks must catch the fault in one of them.
func TestChaosDetectsOverlap(t *testing.T) {
	var sum Summary
	for attempt := 1; attempt <= faultAttempts; attempt++ {
		sum = runFault(t)
		if sum.Overlaps > 0 || sum.Doubled > 0 {
			return
		}
		t.Logf("attempt %d: the fault opened no overlap (overlaps 0, doubled 0)", attempt)
	}
	t.Errorf("the fault went unnoticed in %d runs: overlaps %d, doubled %d", faultAttempts, sum.Overlaps, sum.Doubled)
}

// faultAttempts bounds the runs of a fault self-test whose fault shows
// only when the workers' timing lets it.
const faultAttempts = 3

// TestChaosBatchDetectsLockLoss runs the command in batch mode with a
// deliberate bug, runs that end the locker's session (so their lock) and
// work on regardless, and checks the run fails on it.
func TestChaosBatchDetectsLockLoss(t *testing.T) {
	sum := runFault(t, "-batch", "16")
	if sum.LockLostMidRun == 0 {
		t.Errorf("the fault went unnoticed: %d effects written without the lock (overlaps %d, doubled %d)",
			sum.LockLostMidRun, sum.Overlaps, sum.Doubled)
	}
}

// runFault runs the command with the unlock-early fault and args, checks it
// failed without losing a job, and returns its summary.
func runFault(t *testing.T, args ...string) Summary {
	t.Helper()
	bin, url := buildCommand(t), testServer(t)
	args = append([]string{"-database-url", url, "-jobs", "300", "-workers", "2",
		"-concurrency", "4", "-kills", "0", "-terminate", "1", "-fault", faultUnlockEarly}, args...)
	sum, code, stderr := runChaos(t, bin, args...)
	if code != exitFailed || sum.OK {
		t.Fatalf("exit code %d (ok %v) with the unlock-early fault, want %d; stderr:\n%s",
			code, sum.OK, exitFailed, stderr)
	}
	if sum.Lost != 0 {
		t.Errorf("jobs_lost = %d with the unlock-early fault, want 0", sum.Lost)
	}
	return sum
}

// runChaos runs the command with args and -json, and returns its decoded
// summary, exit code and stderr.
func runChaos(t *testing.T, bin string, args ...string) (Summary, int, string) {
	t.Helper()
	return runChaosFor(t, runBudget, bin, args...)
}

// runChaosFor is runChaos with a budget of its own.
func runChaosFor(t *testing.T, budget time.Duration, bin string, args ...string) (Summary, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), budget+30*time.Second)
	defer cancel()
	args = append(args, "-json", "-timeout", budget.String())
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %s: %v", bin, err)
	}
	var sum Summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("decode summary: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	return sum, cmd.ProcessState.ExitCode(), stderr.String()
}

// built is the command, built once for all tests.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// TestMain removes the built command after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildCommand builds the command once, with the race detector when the
// tests have it, so the worker processes run qg under it too.
func buildCommand(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "qg-chaos-test-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "qg-chaos")
		args := []string{"build", "-o", built.bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// testServer returns the URL of the test server, and fails the test with
// instructions when it cannot be reached.
func testServer(t *testing.T) string {
	t.Helper()
	url := envOr(testURLEnv, defaultDatabaseURL)
	db, err := openDB(url, "qg-chaos-test", 1)
	if err == nil {
		defer db.Close()
		err = ping(db)
	}
	if err != nil {
		t.Fatalf("the chaos test needs PostgreSQL at %s: %v\n"+
			"Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"+
			"or set %s to a server where the user may create databases.",
			redact(url), err, testURLEnv)
	}
	return url
}

// ping checks the server answers within a few seconds.
func ping(db *sql.DB) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// TestPlanEvents checks the events are spread over the run, kinds mixed.
func TestPlanEvents(t *testing.T) {
	t.Parallel()
	plan := planEvents(2, 1, false)
	var kinds []string
	for i, ev := range plan {
		kinds = append(kinds, string(ev.kind))
		if ev.at < firstEventAt || ev.at > lastEventAt || (i > 0 && ev.at <= plan[i-1].at) {
			t.Errorf("event %d at %.2f of the run", i, ev.at)
		}
	}
	if got, want := strings.Join(kinds, ","), "kill -9,terminate sessions,kill -9"; got != want {
		t.Errorf("plan %s, want %s", got, want)
	}
}

// TestParseFlags checks the defaults and the validation of the flags.
func TestParseFlags(t *testing.T) {
	t.Parallel()
	cfg, err := parseFlags(nil, os.Stderr)
	if err != nil || cfg.jobs != 20000 || cfg.workers != 4 || cfg.concurrency != 4 || cfg.terminate != 2 ||
		cfg.restartPostgres || cfg.pgCluster != "main" || cfg.batch != 0 || cfg.timeout != 10*time.Minute {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{{"-terminate", "0"}, {"-jobs", "0"}, {"-fault", "nope"}, {"-batch", "-1"},
		{"-worker"}, {"-database-url", "host=x"}, {"-restart-postgres", "-database-url", "postgres://db.example/x"},
		{"-pg-cluster", ""}, {"-pg-cluster", "15/main"}, {"-que", "1"}, {"-hostile", "-que", "2"}} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

// TestClusterPort reads pg_lsclusters output.
func TestClusterPort(t *testing.T) {
	t.Parallel()
	out := "15 main  5432 online postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log\n" +
		"15 chaos 5433 online postgres /var/lib/postgresql/15/chaos /var/log/postgresql/postgresql-15-chaos.log\n"
	for _, c := range []struct {
		major, name, port string
		found             bool
	}{{"15", "main", "5432", true}, {"15", "chaos", "5433", true}, {"16", "main", "", false}, {"15", "other", "", false}} {
		if port, found := clusterPort(out, c.major, c.name); port != c.port || found != c.found {
			t.Errorf("clusterPort(%s, %s) = %q, %v", c.major, c.name, port, found)
		}
	}
}
