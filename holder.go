package qg

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// JobSession is the server session holding a job's lock: the worker working
// it, as pg_stat_activity shows that session. PostgreSQL does not record
// when a lock was granted; Since is the start of the session's transaction
// when it is in one (a Worker runs each job in a transaction begun right
// after its lock), else the last change of its state.
type JobSession struct {
	PID             int       // the backend's process id
	ApplicationName string    // the session's application_name
	ClientAddr      string    // the client's address; empty over a Unix socket
	BackendStart    time.Time // when the session connected
	Since           time.Time // see above; zero when unknown
	State           string    // active, idle, idle in transaction, ...
}

// JobHolder returns the session holding job id's lock, or nil when no
// session of this database holds it. Seeing other users' sessions in
// pg_stat_activity takes the pg_read_all_stats role (or a superuser);
// without it ApplicationName, ClientAddr and the times are empty.
func (c *Client) JobHolder(ctx context.Context, id int64) (*JobSession, error) {
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	var s JobSession
	var app, addr, state sql.NullString
	var start, since sql.NullTime
	err := c.pool.QueryRowContext(ctx, jobHolderSQL, id).Scan(&s.PID, &app, &addr,
		&start, &since, &state)
	switch {
	case isNoRows(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("qg: holder of job %d: %w", id, err)
	}
	s.ApplicationName, s.ClientAddr, s.State = app.String, addr.String, state.String
	s.BackendStart, s.Since = start.Time, since.Time
	return &s, nil
}

// jobHolderSQL finds the session holding job $1's lock (the one-bigint key,
// objsubid 1) in this database. It names no column of que_jobs, so it is the
// same on every table generation.
const jobHolderSQL = `/* qg:job_holder */ SELECT l.pid, a.application_name, host(a.client_addr),
  a.backend_start, coalesce(a.xact_start, a.state_change), a.state
FROM pg_locks AS l
LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND (l.classid::bigint << 32) + l.objid::bigint = $1::bigint
LIMIT 1`
