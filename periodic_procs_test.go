package qg

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	neturl "net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pdChildEnv, when set, makes TestPeriodicChild one of the scheduler
// processes of TestSchedulerProcesses. It holds "<database URL> <name>
// <interval in nanoseconds>".
const pdChildEnv = "QG_PERIODIC_CHILD"

// TestPeriodicChild is a scheduler process when pdChildEnv is set, and does
// nothing otherwise. It reports "running <unix nanoseconds>" on stdout just
// before its Scheduler runs, and stops when its stdin closes (the parent
// said so, or died).
func TestPeriodicChild(t *testing.T) {
	spec := os.Getenv(pdChildEnv)
	if spec == "" {
		return
	}
	var url, name string
	var interval int64 // nanoseconds
	if _, err := fmt.Sscan(spec, &url, &name, &interval); err != nil {
		t.Fatalf("%s=%q: %v", pdChildEnv, spec, err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := NewScheduler(c)
	s.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := s.Register(PeriodicJob{Name: name, Schedule: Every(time.Duration(interval)), Job: pdTickJob(name)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	go pdDropOwnDatabase(db)
	fmt.Printf("running %d\n", time.Now().UnixNano())
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// pdDropOwnDatabase drops the database the TestMain of a child process
// created for it (it works in its parent's), so that a SIGKILL leaves none
// behind; the parent drops those it finds left all the same.
func pdDropOwnDatabase(parent *sql.DB) {
	u, err := neturl.Parse(testURL)
	if err != nil {
		return
	}
	name := strings.TrimPrefix(u.Path, "/")
	if strings.HasPrefix(name, fmt.Sprintf("qg_test_%d_", os.Getpid())) {
		_, _ = parent.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
	}
}

// pdProc is a scheduler process.
type pdProc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stderr  pdLogs
	up      chan struct{} // closed when its Scheduler runs
	read    chan struct{} // closed when its stdout is read to the end
	started time.Time     // when its Scheduler began; set before up closes
	ended   time.Time     // when it was killed or told to stop
}

// pdStart starts a scheduler process.
func pdStart(t *testing.T, spec string) *pdProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeriodicChild$", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), pdChildEnv+"="+spec)
	p := &pdProc{cmd: cmd, up: make(chan struct{}), read: make(chan struct{})}
	cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.readStdout(stdout)
	return p
}

// readStdout waits for the process's "running" line.
func (p *pdProc) readStdout(stdout io.Reader) {
	defer close(p.read)
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if ns, ok := strings.CutPrefix(lines.Text(), "running "); ok {
			n, _ := strconv.ParseInt(ns, 10, 64)
			p.started = time.Unix(0, n)
			close(p.up)
		}
	}
}

func (p *pdProc) isUp() bool {
	select {
	case <-p.up:
		return true
	default:
		return false
	}
}

// waitUp waits until the process's Scheduler runs.
func (p *pdProc) waitUp(t *testing.T) {
	t.Helper()
	select {
	case <-p.up:
	case <-p.read:
		t.Fatalf("scheduler process %d ended before running: %s", p.cmd.Process.Pid, p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("scheduler process %d is not running after 30 s", p.cmd.Process.Pid)
	}
}

// kill ends the process with SIGKILL and waits for it.
func (p *pdProc) kill() {
	p.ended = time.Now()
	_ = p.cmd.Process.Kill()
	<-p.read
	_ = p.cmd.Wait()
}

// pdFleet is the scheduler processes of a test.
type pdFleet struct {
	spec  string
	all   []*pdProc // every process started
	alive []*pdProc // those not killed or stopped
}

// start starts n processes, without waiting for them to run.
func (f *pdFleet) start(t *testing.T, n int) []*pdProc {
	t.Helper()
	procs := make([]*pdProc, n)
	for i := range procs {
		procs[i] = pdStart(t, f.spec)
	}
	f.all = append(f.all, procs...)
	f.alive = append(f.alive, procs...)
	return procs
}

// running returns the alive processes whose Scheduler runs.
func (f *pdFleet) running() []*pdProc {
	var up []*pdProc
	for _, p := range f.alive {
		if p.isUp() {
			up = append(up, p)
		}
	}
	return up
}

// killOne kills a running process at random, once at least others more run.
func (f *pdFleet) killOne(t *testing.T, rng *rand.Rand, others int) {
	t.Helper()
	pdWait(t, 30*time.Second, "scheduler processes to run", func() bool { return len(f.running()) > others })
	up := f.running()
	f.remove(up[rng.Intn(len(up))]).kill()
}

// killAll kills every alive process, running or starting.
func (f *pdFleet) killAll() {
	for _, p := range f.alive {
		p.kill()
	}
	f.alive = nil
}

// stopAll waits for every alive process to run, then stops them all
// through their stdin and waits for them to exit cleanly.
func (f *pdFleet) stopAll(t *testing.T) {
	t.Helper()
	for _, p := range f.alive {
		p.waitUp(t)
	}
	for _, p := range f.alive {
		p.ended = time.Now()
		p.stdin.Close()
	}
	stopping := f.alive
	f.alive = nil
	for _, p := range stopping {
		select {
		case <-p.read:
			if err := p.cmd.Wait(); err != nil {
				t.Errorf("scheduler process %d: %v\n%s", p.cmd.Process.Pid, err, p.stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("scheduler process %d did not stop", p.cmd.Process.Pid)
			p.kill()
		}
	}
}

// remove takes p out of the alive processes and returns it.
func (f *pdFleet) remove(p *pdProc) *pdProc {
	kept := f.alive[:0]
	for _, q := range f.alive {
		if q != p {
			kept = append(kept, q)
		}
	}
	f.alive = kept
	return p
}

// pdDropChildDatabases drops the test databases the TestMain of killed
// child processes created and could not drop.
func pdDropChildDatabases(t *testing.T, procs []*pdProc) {
	for _, p := range procs {
		rows, err := testDB.Query(`SELECT datname FROM pg_database WHERE datname LIKE $1`,
			fmt.Sprintf(`qg\_test\_%d\_%%`, p.cmd.Process.Pid))
		if err != nil {
			t.Error(err)
			return
		}
		var names []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err == nil {
				names = append(names, name)
			}
		}
		rows.Close()
		for _, name := range names {
			if _, err := testDB.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
				t.Error(err)
			}
		}
	}
}

// pdSleepUntil waits until a point of the test's timeline (not a condition).
func pdSleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

// TestSchedulerProcesses runs a fast schedule in several scheduler processes,
// kills them with SIGKILL and restarts them, first one at a time (two others
// always run) and then all at once, and counts the ticks enqueued against the
// ticks elapsed. None may be doubled, and none lost: a tick T is lost when
// some process ran from T until the next tick came due (T + interval) and T
// was not enqueued. Ticks that came due while no process ran are missed by
// the rule, and at most one of them is enqueued, at restart.
func TestSchedulerProcesses(t *testing.T) {
	_, q := pdSetup(t)
	const interval = 200 * time.Millisecond
	every := Every(interval)
	begin := time.Now()
	// The name exists before the processes start, so that none of them
	// starts it at its own start (the rule for a new name).
	if _, err := testDB.Exec(`INSERT INTO qg_periodic (name, last_tick) VALUES ($1, $2)`, q, begin); err != nil {
		t.Fatal(err)
	}
	f := &pdFleet{spec: fmt.Sprintf("%s %s %d", testURL, q, int64(interval))}
	t.Cleanup(func() {
		f.killAll()
		pdDropChildDatabases(t, f.all)
	})
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	// atTick waits until just after the first tick past d from now, when
	// the processes are claiming it.
	atTick := func(d time.Duration) {
		pdSleepUntil(every.Next(time.Now().Add(d)).Add(time.Duration(rng.Intn(4000)) * time.Microsecond))
	}

	// Rolling: four processes; every 600 ms or so one that runs is killed,
	// while at least two others run, and a new one is started.
	f.start(t, 4)
	for range 8 {
		atTick(600 * time.Millisecond)
		f.killOne(t, rng, 2)
		f.start(t, 1)
	}
	// Outage: all killed, for over a second; then two restarted. (Those
	// starting are waited for first: one killed in its TestMain could
	// leave a database behind, created after it died.)
	for _, p := range f.alive {
		p.waitUp(t)
	}
	atTick(300 * time.Millisecond)
	f.killAll()
	outage := time.Now()
	pdSleepUntil(outage.Add(1200 * time.Millisecond))
	restarted := f.start(t, 2)
	for _, p := range restarted {
		p.waitUp(t)
	}
	restart := restarted[0].started
	if restarted[1].started.Before(restart) {
		restart = restarted[1].started
	}
	// Steady again, with one more kill.
	atTick(600 * time.Millisecond)
	f.killOne(t, rng, 1)
	f.start(t, 1)
	pdSleepUntil(time.Now().Add(time.Second))
	f.stopAll(t)
	pdCheckProcessTicks(t, q, f.all, begin, outage, restart, interval)
}

// pdCheckProcessTicks counts the ticks of TestSchedulerProcesses.
func pdCheckProcessTicks(t *testing.T, q string, all []*pdProc, begin, outage, restart time.Time, interval time.Duration) {
	t.Helper()
	enqueued := make(map[int64]int)
	jobs := pdTicks(t, q)
	for _, tick := range jobs {
		enqueued[tick]++
	}
	var end time.Time
	killed := 0
	for _, p := range all {
		if p.ended.After(end) {
			end = p.ended
		}
		if p.cmd.ProcessState != nil && !p.cmd.ProcessState.Success() {
			killed++
		}
	}
	skips := pdDeclaredSkips(t, all)
	var elapsed, counted, covered, lost, late, doubled, outageDue, outageEnqueued int
	for tick := Every(interval).Next(begin); !tick.After(end); tick = tick.Add(interval) {
		n := enqueued[tick.UnixMicro()]
		elapsed, counted, doubled = elapsed+1, counted+n, doubled+max(n-1, 0)
		if pdCovered(all, tick, interval) {
			covered++
			switch {
			case n > 0:
			case skips.declare(tick):
				late++ // a Scheduler woke a whole interval late and said so
			default:
				lost++
				t.Errorf("tick %s lost: a scheduler ran through it", tick.Format(time.RFC3339Nano))
			}
		}
		if tick.After(outage) && !tick.After(restart) {
			outageDue, outageEnqueued = outageDue+1, outageEnqueued+min(n, 1)
		}
	}
	t.Logf("%d scheduler processes, %d killed with SIGKILL; %d ticks of %s elapsed, %d jobs enqueued, %d doubled; "+
		"%d ticks came due while a scheduler ran through them, %d of them lost, %d skipped by a late scheduler that logged it; "+
		"%d came due while none ran (outage of %s), %d of those enqueued at restart",
		len(all), killed, elapsed, interval, len(jobs), doubled, covered, lost, late,
		outageDue, restart.Sub(outage).Round(time.Millisecond), outageEnqueued)
	if doubled > 0 || counted != len(jobs) {
		t.Errorf("%d ticks doubled; %d of %d jobs are for ticks that elapsed", doubled, counted, len(jobs))
	}
	if outageDue < 3 || outageEnqueued > 1 {
		t.Errorf("outage: %d ticks missed, %d enqueued; want at least 3 missed and at most 1 enqueued", outageDue, outageEnqueued)
	}
	if t.Failed() {
		for _, p := range all {
			t.Logf("process %d (%s to %s): %s", p.cmd.Process.Pid, p.started.Format("15:04:05.000"),
				p.ended.Format("15:04:05.000"), p.stderr.String())
		}
	}
}

// pdCovered reports whether some process ran from tick until the next one.
func pdCovered(all []*pdProc, tick time.Time, interval time.Duration) bool {
	for _, p := range all {
		if !p.started.IsZero() && !p.started.After(tick) && !p.ended.Before(tick.Add(interval)) {
			return true
		}
	}
	return false
}

// pdSkips are the ranges of ticks [first_missed, tick) that scheduler
// processes logged as skipped: a Scheduler that wakes a whole interval late
// (on a starved machine) enqueues the latest due tick only, by design, and
// warns about the ones it skips.
type pdSkips [][2]time.Time

// pdSkipLine matches that warning in a process's text log.
var pdSkipLine = regexp.MustCompile(`msg="qg: periodic ticks missed, enqueueing the latest only".* first_missed=(\S+) tick=(\S+)`)

// pdDeclaredSkips reads the skipped ranges the processes logged.
func pdDeclaredSkips(t *testing.T, all []*pdProc) pdSkips {
	t.Helper()
	var skips pdSkips
	for _, p := range all {
		for _, m := range pdSkipLine.FindAllStringSubmatch(p.stderr.String(), -1) {
			first, err1 := time.Parse(time.RFC3339Nano, m[1])
			last, err2 := time.Parse(time.RFC3339Nano, m[2])
			if err1 != nil || err2 != nil {
				t.Fatalf("unreadable skip warning %q: %v %v", m[0], err1, err2)
			}
			skips = append(skips, [2]time.Time{first, last})
		}
	}
	return skips
}

// declare reports whether a process logged tick as skipped.
func (s pdSkips) declare(tick time.Time) bool {
	for _, r := range s {
		if !tick.Before(r[0]) && tick.Before(r[1]) {
			return true
		}
	}
	return false
}
