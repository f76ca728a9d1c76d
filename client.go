package qg

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/stdlib"
)

// Client enqueues and locks jobs on a database/sql pool opened with the pgx
// stdlib driver. It is safe for concurrent use.
type Client struct {
	// Sync, when set, makes Enqueue and EnqueueInTx run the job's WorkFunc
	// from this map in the caller instead of inserting the job, and return
	// its error: for development, and for tests of code that enqueues. In
	// EnqueueInTx the WorkFunc's Job.Tx is the caller's transaction; in
	// Enqueue it is a transaction of its own, committed when the WorkFunc
	// succeeds. The job is never in que_jobs, so Job.Conn is nil and
	// Delete and Error do nothing. A type missing from the map is an error
	// wrapping ErrUnknownType. Set it before the Client is used.
	Sync WorkMap

	// EnqueueMiddleware wraps every enqueue, the first outermost: a span
	// per enqueue, trace context put into the jobs. See
	// [EnqueueMiddleware]. Set it before the Client is used. Nil means
	// none.
	EnqueueMiddleware []EnqueueMiddleware

	pool *sql.DB
	d    dialect // the table generation, detected by newClient
	// otherDriver names the pool's driver when it is not pgx v4's stdlib:
	// the Client then works through database/sql alone (see driver.go).
	otherDriver string

	ctx    context.Context // parent of every job's context; ends with Close
	cancel context.CancelFunc

	wakeups wakeups // wakes idle workers of a queue

	mu      sync.Mutex
	closed  bool
	locked  map[*Job]struct{} // jobs locked and not yet Done
	skipped skips             // jobs whose failure could not be recorded, passed over for a while
	// walkApart is set once a Worker's session was found not to run its
	// transactions at READ COMMITTED (see walkInTx).
	walkApart  atomic.Bool
	connConfig *pgx.ConnConfig // how to reach the server outside the pool
	sessions   sessionCheck    // do the pool's connections keep their session
	// connSessions names the server session of each connection a job or
	// a locker holds, for Close and escalation to end exactly those.
	connSessions sessionCache
	// pausable is set when qg_paused_queues existed as the Client was made:
	// its walks then pass over paused queues (see Client.walk).
	pausable bool
	// cancellable is set when qg_cancelled_jobs existed as the Client was
	// made: CancelJob works, and its Workers watch for requests.
	cancellable bool
	cancels     cancelWatch // the watch for cancel requests, while Workers run
}

// NewClient returns a Client on pool, or nil when pool cannot be used. It is
// the reference library's form, kept for compatibility: it drops the reason.
// Prefer [NewClient2], which returns an error saying what is wrong (no
// que_jobs table, another Que schema version, another driver). A nil Client
// makes [NewWorker], [NewWorkerPool] and [NewScheduler] panic at once with a
// message pointing here, rather than crash later in a goroutine.
func NewClient(pool *sql.DB) *Client {
	c, err := NewClient2(pool)
	if err != nil {
		return nil
	}
	return c
}

// NewClient2 returns a Client on pool. qg is built on the pgx v4 stdlib
// driver (sql.Open("pgx", url) or stdlib.OpenDB). On another driver
// (lib/pq, pgx v5's stdlib) everything works through database/sql alone, a
// statement at a time where pgx v4 pipelines (a job costs about 1.6x on pgx
// v5 and 3x on lib/pq), with no Listen (Workers poll), no batch locking
// (the pool works one job per connection, and says so) and a nil
// [Job.Conn]. It checks that que_jobs exists at a
// schema version qg works, 3 (Ruby Que 0.x) or 7 (Ruby Que 2.x), and picks
// that table's statements; it returns an error wrapping [ErrNoTable] or
// [ErrSchemaVersion] when it does not.
//
// Each job in flight holds one connection of pool until [Job.Done], and
// Stats and Enqueue borrow one briefly: a pool limited with SetMaxOpenConns
// needs at least as many connections as jobs worked at once.
func NewClient2(pool *sql.DB) (*Client, error) {
	return newClient(context.Background(), pool)
}

func newClient(ctx context.Context, pool *sql.DB) (*Client, error) {
	if pool == nil {
		return nil, fmt.Errorf("qg: new client: nil *sql.DB")
	}
	d, err := detectDialect(ctx, pool)
	if err != nil {
		return nil, wrap("qg: new client", err)
	}
	sides, err := findSideTables(ctx, pool)
	if err != nil {
		return nil, wrap("qg: new client", err)
	}
	c := newClientOn(pool, d)
	if _, ok := pool.Driver().(*stdlib.Driver); !ok {
		c.otherDriver = fmt.Sprintf("%T", pool.Driver())
	}
	c.pausable, c.cancellable = sides.pause, sides.cancel
	// Probe the pool now, so that the first lock need not; an enqueue-only
	// Client is never refused, and a probe that failed runs again then.
	_ = c.checkSessions(ctx)
	return c, nil
}

// newClientOn returns a Client on pool working the table through d.
func newClientOn(pool *sql.DB, d dialect) *Client {
	c := &Client{pool: pool, d: d, locked: make(map[*Job]struct{})}
	c.wakeups.name = d.queueName
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Close releases every job locked through this Client and not yet Done: their
// connections are closed and their sessions ended on the server, so their
// locks go away and the jobs run again elsewhere, unchanged. It returns
// promptly, and further calls of the Client return [ErrClientClosed]. Stop
// the Client's Workers first; call Done on released jobs all the same, to give
// their connections back. Close does not close the *sql.DB, which belongs to
// the caller. Calling Close again does nothing.
func (c *Client) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	var claimed []*Job
	for j := range c.locked {
		if j.claim() { // a job released meanwhile keeps its session
			claimed = append(claimed, j)
		}
	}
	c.mu.Unlock()
	c.cancel()
	_ = c.endSessions(claimed)
}

// endSessions ends the server sessions of claimed jobs: their connections
// are closed, and their sessions terminated. It returns the error of a
// terminate that failed; the closed connections end idle sessions anyway.
func (c *Client) endSessions(jobs []*Job) error {
	var ended []session
	for _, j := range jobs {
		j.closeSocket()
		ended = append(ended, j.sessions()...)
	}
	return c.terminate(ended)
}

// terminate ends the server sessions of locked jobs or of a locker.
func (c *Client) terminate(ended []session) error {
	c.mu.Lock()
	config := c.connConfig
	c.mu.Unlock()
	if len(ended) == 0 {
		return nil
	}
	if config == nil && c.otherDriver != "" {
		return c.terminateThroughPool(ended)
	}
	if config == nil {
		return nil
	}
	return terminateSessions(config, ended)
}

// terminateThroughPool ends sessions from a connection of the pool: on
// another driver than pgx v4's, qg cannot open one of its own. Its jobs'
// connections have been discarded already (closeSocket), so it waits only a
// little for a free connection: every one may be pinned by jobs.
func (c *Client) terminateThroughPool(ended []session) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pids, starts := sessionArrays(ended)
	args := c.portable([]any{pids, starts})
	if _, err := c.pool.ExecContext(ctx, endSessionsSQL(""), args...); err != nil {
		return fmt.Errorf("qg: end sessions %v: %w", pidsOf(ended), err)
	}
	return nil
}

// sessionArrays splits sessions into their pids and start times.
func sessionArrays(ended []session) ([]int64, []time.Time) {
	pids := make([]int64, len(ended))
	starts := make([]time.Time, len(ended))
	for i, s := range ended {
		pids[i], starts[i] = int64(s.pid), s.start
	}
	return pids, starts
}

// endSessionsSQL terminates the sessions of pids $1 started at $2, waiting
// as wait says (", 5000": up to 5 s, PostgreSQL 14 on; "": not).
func endSessionsSQL(wait string) string {
	return `/* qg:end_sessions */ SELECT pg_terminate_backend(a.pid` + wait + `)
FROM pg_stat_activity AS a
JOIN unnest($1::bigint[], $2::timestamptz[]) AS s(pid, start) ON a.pid = s.pid AND a.backend_start = s.start`
}

// terminateSessions ends the server sessions ended over a connection of its
// own, outside the pool (whose connections may all be pinned by jobs), and
// waits up to a few seconds for them to be gone. A session is matched by
// pid and start time, so a pid the server has given to a later session
// since is left alone.
func terminateSessions(config *pgx.ConnConfig, ended []session) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		return fmt.Errorf("qg: end sessions %v: connect: %w", pidsOf(ended), err)
	}
	defer conn.Close(ctx)
	pids, starts := sessionArrays(ended)
	// Since PostgreSQL 14 pg_terminate_backend can wait for the end.
	var version int
	_ = conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version)
	wait := ""
	if version >= 140000 {
		wait = ", 5000"
	}
	if _, err := conn.Exec(ctx, endSessionsSQL(wait), pids, starts); err != nil {
		return fmt.Errorf("qg: end sessions %v: %w", pidsOf(ended), err)
	}
	return nil
}

// pidsOf lists the pids of sessions, for messages.
func pidsOf(sessions []session) []uint32 {
	pids := make([]uint32, len(sessions))
	for i, s := range sessions {
		pids[i] = s.pid
	}
	return pids
}

// track records a freshly locked job; it fails once the Client is closed.
func (c *Client) track(j *Job) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClientClosed
	}
	if c.connConfig == nil && j.pgxConn != nil {
		c.connConfig = j.pgxConn.Config()
	}
	c.locked[j] = struct{}{}
	return nil
}

// heldIDs lists the ids of the jobs the Client holds, for a walk to pass
// over.
func (c *Client) heldIDs() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]int64, 0, len(c.locked))
	for j := range c.locked {
		ids = append(ids, j.ID)
	}
	return append(ids, c.skippedIDs()...)
}

// untrack forgets a job that is Done.
func (c *Client) untrack(j *Job) {
	c.mu.Lock()
	delete(c.locked, j)
	c.mu.Unlock()
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// setServerConfig records how to reach the server outside the pool, once.
func (c *Client) setServerConfig(config *pgx.ConnConfig) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.connConfig == nil {
		c.connConfig = config
	}
}

// mustClient panics, naming the constructor, when c is nil: a nil Client
// would otherwise crash later, in a Worker's goroutine.
func mustClient(c *Client, constructor string) {
	if c == nil {
		panic("qg: " + constructor + ": nil *Client (NewClient returns nil when the pool " +
			"cannot be used; call NewClient2 and check its error)")
	}
}
