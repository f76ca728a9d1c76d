package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// bouncer is a PgBouncer the tests started in front of the test database,
// with one database alias per pool mode.
type bouncer struct {
	port int
	log  *strings.Builder
}

var (
	bouncerOnce sync.Once
	theBouncer  *bouncer
	bouncerErr  error
	stopBouncer func()
)

// startBouncer returns the run's PgBouncer, starting it on first use: the
// aliases "session" and "transaction" lead to the test database in those
// pool modes. runTests stops it when the test binary ends.
func startBouncer(t *testing.T) *bouncer {
	t.Helper()
	bouncerOnce.Do(func() { theBouncer, stopBouncer, bouncerErr = runBouncer() })
	if bouncerErr != nil {
		t.Fatalf("start PgBouncer: %v\nThe pooler tests need Debian's pgbouncer package "+
			"(apt-get install pgbouncer; .ci/run installs it).", bouncerErr)
	}
	return theBouncer
}

// runBouncer writes a PgBouncer configuration in a directory of its own,
// starts pgbouncer in the foreground and waits until it accepts
// connections.
func runBouncer() (*bouncer, func(), error) {
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pgbouncer"); serr != nil {
			return nil, nil, err
		}
		bin = "/usr/sbin/pgbouncer"
	}
	u, err := url.Parse(testURL)
	if err != nil {
		return nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "qg-pgbouncer-")
	if err != nil {
		return nil, nil, err
	}
	// PgBouncer refuses to run as root: it then runs as postgres, which
	// must read the files.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, nil, err
	}
	user := u.User.Username()
	target := fmt.Sprintf("host=%s port=%s dbname=%s user=%s", u.Hostname(), portOf(u), strings.TrimPrefix(u.Path, "/"), user)
	config := fmt.Sprintf(`[databases]
session = %[1]s pool_mode=session
transaction = %[1]s pool_mode=transaction

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %[2]d
unix_socket_dir =
auth_type = trust
auth_file = %[3]s/users.txt
pool_mode = session
default_pool_size = 20
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
`, target, port, dir)
	files := map[string]string{"pgbouncer.ini": config, "users.txt": fmt.Sprintf("%q \"\"\n", user)}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, nil, err
		}
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "postgres"}, args...)
	}
	cmd := exec.Command(bin, args...)
	b := &bouncer{port: port, log: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = &lockedWriter{b: b.log}, &lockedWriter{b: b.log}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	if err := waitForBouncer(b); err != nil {
		stop()
		return nil, nil, fmt.Errorf("%w\n%s", err, b.log.String())
	}
	return b, stop, nil
}

// lockedWriter lets PgBouncer's two output streams share one builder.
type lockedWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// waitForBouncer polls PgBouncer until a query goes through it.
func waitForBouncer(b *bouncer) error {
	db, err := sql.Open("pgx", b.url("session"))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := db.QueryRow(`SELECT 1`).Scan(new(int))
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("PgBouncer did not answer in 15s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// url is the URL of the test database through PgBouncer's alias for mode.
// Prepared statements do not survive a transaction pooler (PgBouncer 1.18),
// so the connections describe statements instead of preparing them.
func (b *bouncer) url(mode string) string {
	u, _ := url.Parse(testURL)
	u.Host = fmt.Sprintf("127.0.0.1:%d", b.port)
	u.Path = "/" + mode
	q := u.Query()
	q.Set("statement_cache_mode", "describe")
	u.RawQuery = q.Encode()
	return u.String()
}

// freePort is a TCP port of 127.0.0.1 nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portOf is the port of u, 5432 when it names none.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "5432"
}

// bouncerDB opens a pool on the test database through PgBouncer in mode.
func bouncerDB(t *testing.T, mode string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", startBouncer(t).url(mode))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSessionPoolerWorksJobs checks that through PgBouncer in session mode
// a Client locks and works jobs as on a direct connection.
func TestSessionPoolerWorksJobs(t *testing.T) {
	db := bouncerDB(t, "session")
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := testQueue(t)
	for i := range 20 {
		enqueue(t, c, &Job{Queue: queue, Type: "Work", Args: MustArgs(i)})
	}
	j, err := c.LockJob(queue)
	if err != nil || j == nil {
		t.Fatalf("LockJob through a session pooler: %v, %v", j, err)
	}
	if err := j.Delete(); err != nil {
		t.Fatal(err)
	}
	j.Done()

	worked := drainCounting(t, c, queue, 4, 0, false)
	for n, times := range worked {
		if times != 1 {
			t.Errorf("job %d worked %d times", n, times)
		}
	}
	if len(worked) != 19 {
		t.Errorf("%d jobs worked, want 19", len(worked))
	}
	assertNoLocks(t)
}

// TestTransactionPoolerRefusesToWork checks that through PgBouncer in
// transaction mode a Client enqueues, but refuses to lock: LockJob, a
// Worker, a pool's Run and a batch pool all say why, and no job is
// touched.
func TestTransactionPoolerRefusesToWork(t *testing.T) {
	db := bouncerDB(t, "transaction")
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := testQueue(t)
	j := enqueue(t, c, &Job{Queue: queue, Type: "Work"})
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnqueueInTx(&Job{Queue: queue, Type: "Work"}, tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	if _, err := c.LockJob(queue); !errors.Is(err, ErrSessionPooler) {
		t.Fatalf("LockJob through a transaction pooler: %v, want ErrSessionPooler", err)
	} else if !strings.Contains(err.Error(), "session-mode pooler") {
		t.Errorf("error %q does not say what to do", err)
	}

	ran := false
	wm := WorkMap{"Work": func(*Job) error { ran = true; return nil }}
	logger, logs := testLogger(t)
	w := NewWorker(c, wm)
	w.Queue, w.Logger = queue, logger
	if w.WorkOne() {
		t.Error("WorkOne worked a job through a transaction pooler")
	}
	if !strings.Contains(logs.String(), "session advisory locks cannot hold jobs") {
		t.Errorf("the Worker logged %q", logs.String())
	}

	for _, batch := range []int{0, 4} {
		p := NewWorkerPool(c, wm, 2)
		p.Queue, p.Batch = queue, batch
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := p.Run(ctx)
		cancel()
		if !errors.Is(err, ErrSessionPooler) {
			t.Errorf("Run (batch %d) through a transaction pooler: %v, want ErrSessionPooler", batch, err)
		}
	}
	if ran {
		t.Error("a WorkFunc ran through a transaction pooler")
	}
	if n := countJobs(t, queue); n != 2 {
		t.Errorf("%d jobs in the queue, want the 2 enqueued", n)
	}
	var errors int
	if err := testDB.QueryRow(`SELECT count(*) FROM que_jobs WHERE job_id = $1 AND error_count = 0`, j.ID).Scan(&errors); err != nil || errors != 1 {
		t.Errorf("the job was changed: %v", err)
	}
	assertNoLocks(t)
}

// TestSessionPoolerBatchTx checks that a batch pool works through PgBouncer
// in session mode with jobs that use their transaction: the statement that
// deletes such a job checks the lock is held by the locker's session, named
// by the server's pid, not the pooler's (which the driver is told).
func TestSessionPoolerBatchTx(t *testing.T) {
	db := bouncerDB(t, "session")
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := testQueue(t)
	for i := range 12 {
		enqueue(t, c, &Job{Queue: queue, Type: "Work", Args: MustArgs(i)})
	}
	worked := drainCounting(t, c, queue, 3, 4, true)
	for n, times := range worked {
		if times != 1 {
			t.Errorf("job %d worked %d times", n, times)
		}
	}
	if len(worked) != 12 {
		t.Errorf("%d jobs worked, want 12", len(worked))
	}
	assertNoLocks(t)
}

// drainCounting works queue with a pool of workers (batch locking of batch
// when positive; each job using its Tx when useTx) until the queue is
// empty, and returns how often each job's argument was worked.
func drainCounting(t *testing.T, c *Client, queue string, workers, batch int, useTx bool) map[int]int {
	t.Helper()
	var mu sync.Mutex
	worked := map[int]int{}
	p := NewWorkerPool(c, WorkMap{"Work": func(j *Job) error {
		var n int
		if err := j.DecodeArgs(&n); err != nil {
			return err
		}
		if useTx {
			if _, err := j.Tx().Exec(`SELECT 1`); err != nil {
				return err
			}
		}
		mu.Lock()
		worked[n]++
		mu.Unlock()
		return nil
	}}, workers)
	p.Queue, p.Interval, p.Batch = queue, 10*time.Millisecond, batch
	p.Start()
	waitForCount(t, "the pool to work every job", func(n int) bool { return n == 0 },
		`SELECT count(*) FROM que_jobs WHERE queue = $1`, queue)
	p.Shutdown()
	mu.Lock()
	defer mu.Unlock()
	return worked
}
