package qg

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v4/stdlib"

	"github.com/qg-go/qg/internal/pgtest"
)

// testURL is the URL of the database created for this test run.
var testURL string

// testDB is a pool on the database created for this test run.
var testDB *sql.DB

// TestMain creates a fresh database for the run, migrates it, runs the tests
// and drops it.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dbURL, drop, err := pgtest.CreateDatabase(pgtest.AdminURL(), pgtest.Name("qg_test"))
	if err != nil {
		fmt.Fprint(os.Stderr, pgtest.Unreachable(err, "make test            (starts a local or Docker PostgreSQL, then runs the tests)"))
		return 1
	}
	defer drop()
	testURL = dbURL
	// The runnable examples open DATABASE_URL, as a program would.
	os.Setenv("DATABASE_URL", dbURL)
	testDB, err = sql.Open("pgx", dbURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testDB.Close()
	if err := Migrate(context.Background(), testDB); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := createQue2DB(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer dropQue2DB()
	// The examples of the Que 2.x table open QUE2_DATABASE_URL.
	os.Setenv("QUE2_DATABASE_URL", que2URL)
	defer func() {
		if stopBouncer != nil {
			stopBouncer()
		}
	}()
	return m.Run()
}

var queueUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_]+`)

// testQueue names a queue of the test's own, so tests never take each
// other's jobs.
func testQueue(t *testing.T) string {
	return "test_" + strings.ToLower(queueUnsafe.ReplaceAllString(t.Name(), "_"))
}

// setup returns a Client on the test database and the test's queue, and
// checks after the test that no advisory lock is left in the database.
func setup(t *testing.T) (*Client, string) {
	t.Helper()
	c, err := NewClient2(testDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		assertNoLocks(t)
	})
	return c, testQueue(t)
}

// assertNoLocks fails the test when an advisory lock of the test database is
// still held a few seconds after the test (sessions ended from the server
// side take a moment to go).
func assertNoLocks(t *testing.T) {
	t.Helper()
	assertNoLocksIn(t, testDB)
}

// countLocks counts advisory locks held in the test database.
func countLocks(t *testing.T) int {
	t.Helper()
	var n int
	err := testDB.QueryRow(`SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// enqueue inserts a job through the Client and fails the test on error.
func enqueue(t *testing.T, c *Client, j *Job) *Job {
	t.Helper()
	if err := c.Enqueue(j); err != nil {
		t.Fatal(err)
	}
	return j
}

// mustLock locks a job of queue and fails the test when none is there.
func mustLock(t *testing.T, c *Client, queue string) *Job {
	t.Helper()
	j, err := c.LockJob(queue)
	if err != nil {
		t.Fatal(err)
	}
	if j == nil {
		t.Fatalf("no job locked in queue %q", queue)
	}
	return j
}

// countJobs counts the rows of queue.
func countJobs(t *testing.T, queue string) int {
	t.Helper()
	var n int
	if err := testDB.QueryRow(`SELECT count(*) FROM que_jobs WHERE queue = $1`, queue).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// scratchDB creates an empty database of the test's own on the test server,
// dropped after the test, and returns a pool on it: for tests of what qg
// does on a database without que_jobs, or with another table.
func scratchDB(t *testing.T) *sql.DB {
	t.Helper()
	db, _ := scratchDatabase(t, "qg_scratch")
	return db
}

// scratchDatabase is scratchDB for a database name prefix; it also returns
// the database's URL.
func scratchDatabase(t testing.TB, prefix string) (*sql.DB, string) {
	t.Helper()
	url, drop, err := pgtest.CreateDatabase(pgtest.AdminURL(), pgtest.Name(prefix))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		drop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		drop()
	})
	return db, url
}

// openDB opens a new pool on the test database, closed after the test.
func openDB(t *testing.T, opts ...stdlib.OptionOpenDB) *sql.DB {
	t.Helper()
	cfg, err := pgxConfig(testURL)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg, opts...)
	t.Cleanup(func() { db.Close() })
	return db
}

// testServerURL is the test server's URL for database name.
func testServerURL(t *testing.T, name string) string {
	t.Helper()
	u, err := url.Parse(testURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// waitForCount polls query, which returns one count, until done accepts the
// count, and fails the test after 10 seconds, naming what it waited for.
func waitForCount(t *testing.T, what string, done func(n int) bool, query string, args ...any) {
	t.Helper()
	var n int
	eventually(t, what, func() bool {
		if err := testDB.QueryRow(query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return done(n)
	})
}

// eventuallyTimeout bounds every wait of eventually.
const eventuallyTimeout = 10 * time.Second

// eventually polls cond until it holds, and fails the test after
// eventuallyTimeout, naming what it waited for. It is the one way tests
// wait for something: never a sleep.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(eventuallyTimeout, cond) {
		t.Fatalf("waited %v for %s", eventuallyTimeout, what)
	}
}

// poll calls cond every 10 ms until it holds or d passes, and reports
// whether it held.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawInsert inserts a row by raw SQL, as another producer could, and returns
// its job_id or PostgreSQL's error.
func rawInsert(queue, jobClass, args string) (int64, error) {
	var id int64
	err := testDB.QueryRow(`INSERT INTO que_jobs (queue, job_class, args) VALUES ($1, $2, $3::text::json) RETURNING job_id`,
		queue, jobClass, args).Scan(&id)
	return id, err
}

// mustRawInsert is rawInsert failing the test on error.
func mustRawInsert(t *testing.T, queue, jobClass, args string) int64 {
	t.Helper()
	id, err := rawInsert(queue, jobClass, args)
	if err != nil {
		t.Fatalf("raw insert of %s job: %v", jobClass, err)
	}
	return id
}

// testWorker is a Worker on queue.
func testWorker(c *Client, queue string, m WorkMap) *Worker {
	w := NewWorker(c, m)
	w.Queue = queue
	w.Interval = 10 * time.Millisecond
	return w
}

// assertErrored checks that job id failed once, is still there with its
// args untouched, and that last_error contains want.
func assertErrored(t *testing.T, id int64, args string, want string) {
	t.Helper()
	st := goldenRead(t, id)
	if !st.Found {
		t.Fatalf("job %d was lost", id)
	}
	if st.ErrorCount != 1 || !st.LastError.Valid || !strings.Contains(st.LastError.String, want) {
		t.Fatalf("job %d: error_count %d, last_error %.200q; want 1 and a message containing %.200q",
			id, st.ErrorCount, st.LastError.String, want)
	}
	if st.Args != args {
		t.Fatalf("job %d: args changed from %.100q to %.100q", id, args, st.Args)
	}
	if st.RunAtFromNow < 2 || st.RunAtFromNow > 6 {
		t.Fatalf("job %d: run_at - now() = %.2fs, want about 4s", id, st.RunAtFromNow)
	}
}

// logBuffer collects log output and echoes it to the test log.
type logBuffer struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimSpace(string(p)))
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{t: t}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// appClient returns a Client on a pool of its own whose sessions carry
// application name app, so a test can watch them in pg_stat_activity.
func appClient(t *testing.T, app string) *Client {
	t.Helper()
	cfg, err := pgxConfig(testURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// singleConnClient returns a Client on a pool of one connection, so a
// connection a job gives back is the very one the pool hands out next.
func singleConnClient(t *testing.T) (*Client, *sql.DB) {
	t.Helper()
	db := openDB(t)
	db.SetMaxOpenConns(1)
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, db
}

// unreachable makes c's side connection, which ends job sessions, fail.
func unreachable(c *Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bad := c.connConfig.Copy()
	bad.Host, bad.Port, bad.Fallbacks = "127.0.0.1", 1, nil
	c.connConfig = bad
}

// migratedScratch is scratchDB migrated, with a Client on a pool of its own;
// it returns the database's URL too. For tests that break the database for
// everyone on it (refuse connections, add triggers).
func migratedScratch(t *testing.T) (*sql.DB, *Client, string) {
	t.Helper()
	db, url := scratchDatabase(t, "qg_scratch")
	if err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db, urlClient(t, url, 8), url
}

// openURL opens a pool of at most conns connections on url, whose sessions
// carry the application name app.
func openURL(rawURL, app string, conns int) (*sql.DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

// urlClient returns a Client on a pool of its own on url, of conns
// connections, closed after the test.
func urlClient(t *testing.T, url string, conns int) *Client {
	t.Helper()
	db, err := openURL(url, "qg-test", conns)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); db.Close() })
	return c
}

// dbExec runs a statement on db and fails the test on error.
func dbExec(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	if _, err := db.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// lockWithin polls LockJob for up to d and returns the job it got, or nil.
func lockWithin(t *testing.T, c *Client, queue string, d time.Duration) *Job {
	t.Helper()
	var j *Job
	poll(d, func() bool {
		var err error
		if j, err = c.LockJob(queue); err != nil {
			t.Fatal(err)
		}
		return j != nil
	})
	return j
}

// batchPool returns a batch pool of one worker on a client of its own, on
// queue "batchtest" of the database at url, and the count of its locker's
// "lost its session" warnings. The pool keeps no idle connection, so the
// locker's next connection after losing its session is a new one, refused
// while the database refuses connections.
func batchPool(t *testing.T, url string, wf WorkFunc) (*WorkerPool, *warningCount) {
	t.Helper()
	db, err := openURL(url, "qg-test-batch", 4)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxIdleConns(0) // every new connection is dialled: none idle and dead
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); db.Close() })
	warnings := &warningCount{}
	pool := NewWorkerPool(c, WorkMap{"Test": wf}, 1)
	pool.Queue, pool.Batch, pool.Interval = "batchtest", 4, 20*time.Millisecond
	pool.Backoff = func(int) time.Duration { return 0 }
	pool.Logger = slog.New(warnings)
	return pool, warnings
}

// warningCount is a slog.Handler counting the batch locker's warnings that
// it lost its session.
type warningCount struct {
	mu sync.Mutex
	n  int
}

func (h *warningCount) Enabled(context.Context, slog.Level) bool { return true }
func (h *warningCount) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *warningCount) WithGroup(string) slog.Handler            { return h }
func (h *warningCount) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "lost its session") {
		h.mu.Lock()
		h.n++
		h.mu.Unlock()
	}
	return nil
}

func (h *warningCount) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}
