package qg

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// cancelChildEnv, when set, makes TestCancelChild a worker process of
// TestCancelRunningJobInAnotherProcess. It holds "<database URL> <queue>".
const cancelChildEnv = "QG_CANCEL_CHILD"

// TestCancelChild is a worker process when cancelChildEnv is set, and does
// nothing otherwise. Its "Long" jobs record each run in cancel_runs and run
// until their context ends, which they record in cancel_seen; it prints
// "working" once its pool runs, and stops when its stdin closes.
func TestCancelChild(t *testing.T) {
	spec := os.Getenv(cancelChildEnv)
	if spec == "" {
		return
	}
	var url, queue string
	if _, err := fmt.Sscan(spec, &url, &queue); err != nil {
		t.Fatalf("%s=%q: %v", cancelChildEnv, spec, err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	go pdDropOwnDatabase(db)
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := NewWorkerPool(c, WorkMap{"Long": func(j *Job) error { return longJob(db, j) }}, 2)
	p.Queue, p.Interval = queue, 20*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Println("working")
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// longJob records its run, writes into its transaction (which a cancel
// rolls back), and runs until its context ends, which it records.
func longJob(db *sql.DB, j *Job) error {
	if _, err := db.Exec(`INSERT INTO cancel_runs VALUES ($1, pg_backend_pid())`, j.ID); err != nil {
		return err
	}
	if _, err := j.Tx().Exec(`INSERT INTO cancel_work VALUES ($1)`, j.ID); err != nil {
		return err
	}
	select {
	case <-j.Context().Done():
	case <-time.After(time.Minute):
		return errors.New("not cancelled within a minute")
	}
	if _, err := db.Exec(`INSERT INTO cancel_seen VALUES ($1, clock_timestamp())`, j.ID); err != nil {
		return err
	}
	return j.Context().Err()
}

// cancelTables makes the tables the Long jobs write.
func cancelTables(t *testing.T) {
	t.Helper()
	_, err := testDB.Exec(`CREATE TABLE IF NOT EXISTS cancel_runs (job_id bigint, pid int);
CREATE TABLE IF NOT EXISTS cancel_work (job_id bigint);
CREATE TABLE IF NOT EXISTS cancel_seen (job_id bigint, at timestamptz)`)
	if err != nil {
		t.Fatal(err)
	}
}

// TestCancelRunningJobInAnotherProcess checks that CancelJob of a job
// another OS process is working cancels its context there, through the
// notification, that its work is rolled back, and that it is removed and not
// retried; and that CancelJob of a queued job removes it at once.
func TestCancelRunningJobInAnotherProcess(t *testing.T) {
	c, queue := setup(t)
	ctx := context.Background()
	cancelTables(t)
	queued := enqueue(t, c, &Job{Queue: queue + "_queued", Type: "Long"})
	if running, err := c.CancelJob(ctx, queued.ID); err != nil || running {
		t.Fatalf("CancelJob of a queued job = %v, %v", running, err)
	}
	if n := countJobs(t, queue+"_queued"); n != 0 {
		t.Fatalf("the cancelled queued job is still there (%d)", n)
	}

	j := enqueue(t, c, &Job{Queue: queue, Type: "Long"})
	cmd := exec.Command(os.Args[0], "-test.run=^TestCancelChild$", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), cancelChildEnv+"="+testURL+" "+queue)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr pdLogs
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("worker process: %v\n%s", err, stderr.String())
		}
	}()
	go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(stdout)) }()

	waitForCount(t, "the other process to run the job", func(n int) bool { return n == 1 },
		`SELECT count(*) FROM cancel_runs WHERE job_id = $1`, j.ID)
	var childPID int
	if err := testDB.QueryRow(`SELECT pid FROM cancel_runs WHERE job_id = $1`, j.ID).Scan(&childPID); err != nil {
		t.Fatal(err)
	}
	var asked time.Time
	if err := testDB.QueryRow(`SELECT clock_timestamp()`).Scan(&asked); err != nil {
		t.Fatal(err)
	}
	running, err := c.CancelJob(ctx, j.ID)
	if err != nil || !running {
		t.Fatalf("CancelJob of a running job = %v, %v; want true, nil", running, err)
	}
	waitForCount(t, "the job removed", func(n int) bool { return n == 0 },
		`SELECT count(*) FROM que_jobs WHERE job_id = $1`, j.ID)
	var seen time.Time
	if err := testDB.QueryRow(`SELECT at FROM cancel_seen WHERE job_id = $1`, j.ID).Scan(&seen); err != nil {
		t.Fatalf("the job's context was not cancelled: %v\n%s", err, stderr.String())
	}
	t.Logf("cancel reached the running job in the other process (pid %d's pool) %v after CancelJob", childPID, seen.Sub(asked))
	waitForCount(t, "the request dropped", func(n int) bool { return n == 0 },
		`SELECT count(*) FROM qg_cancelled_jobs WHERE job_id = $1`, j.ID)
	var runs, work int
	if err := testDB.QueryRow(`SELECT (SELECT count(*) FROM cancel_runs WHERE job_id = $1),
  (SELECT count(*) FROM cancel_work WHERE job_id = $1)`, j.ID).Scan(&runs, &work); err != nil {
		t.Fatal(err)
	}
	if runs != 1 || work != 0 {
		t.Errorf("%d runs, %d rows of work committed; want 1 and 0", runs, work)
	}
}

// TestCancelNotified checks the notification path alone: with polling
// turned off, CancelJob still reaches the running job.
func TestCancelNotified(t *testing.T) {
	old := cancelPoll
	cancelPoll = time.Hour
	defer func() { cancelPoll = old }()
	c, queue := setup(t)
	cancelTables(t)
	j := enqueue(t, c, &Job{Queue: queue, Type: "Long"})
	p := NewWorkerPool(c, WorkMap{"Long": func(j *Job) error { return longJob(testDB, j) }}, 1)
	p.Queue, p.Interval = queue, 10*time.Millisecond
	p.Start()
	defer p.Shutdown()
	waitForCount(t, "the job to run", func(n int) bool { return n == 1 },
		`SELECT count(*) FROM cancel_runs WHERE job_id = $1`, j.ID)
	// The LISTEN connection may come up just after the job starts: ask
	// until the job is gone (a repeated request is harmless).
	deadline := time.Now().Add(10 * time.Second)
	for countJobs(t, queue) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("a notified cancel did not reach the running job in 10s")
		}
		if _, err := c.CancelJob(context.Background(), j.ID); err != nil && !errors.Is(err, ErrJobNotFound) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCancelFoundByPolling checks the fallback: a cancel request whose
// notification was missed (here none was sent) is found by the poll, in
// the default and the batch mode.
func TestCancelFoundByPolling(t *testing.T) {
	for _, batch := range []int{0, 4} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			c, queue := setup(t)
			cancelTables(t)
			j := enqueue(t, c, &Job{Queue: queue, Type: "Long"})
			var outcome RunOutcome
			p := NewWorkerPool(c, WorkMap{"Long": func(j *Job) error { return longJob(testDB, j) }}, 2)
			p.Queue, p.Batch, p.Interval = queue, batch, 10*time.Millisecond
			p.Hooks.Locked = func(JobEvent) {}
			p.Middleware = []Middleware{func(ctx context.Context, j *Job, work func(context.Context) JobEvent) JobEvent {
				e := work(ctx)
				outcome = e.Outcome
				return e
			}}
			p.Start()
			defer p.Shutdown()
			waitForCount(t, "the job to run", func(n int) bool { return n == 1 },
				`SELECT count(*) FROM cancel_runs WHERE job_id = $1`, j.ID)
			if _, err := testDB.Exec(`INSERT INTO qg_cancelled_jobs (job_id) VALUES ($1)`, j.ID); err != nil {
				t.Fatal(err)
			}
			waitForCount(t, "the job removed", func(n int) bool { return n == 0 },
				`SELECT count(*) FROM que_jobs WHERE job_id = $1`, j.ID)
			p.Shutdown()
			if outcome != RunCancelled {
				t.Errorf("outcome %v, want cancelled", outcome)
			}
			waitForCount(t, "the request dropped", func(n int) bool { return n == 0 },
				`SELECT count(*) FROM qg_cancelled_jobs WHERE job_id = $1`, j.ID)
		})
	}
}
