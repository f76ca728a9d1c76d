package qg

// How a job lets go: Done, and the release of its lock and pinned
// connection, or a shutdown that abandons it and ends its session.

// The states of a job's hold on its pinned connection. A job is running
// from LockJob on; then exactly one of two things happens, decided by a
// compare-and-swap: the job's own Done releases the connection (it may go
// back to the pool and serve others), or a shutdown or Close abandons the
// job (its session is ended and the connection is discarded, never pooled).
const (
	jobRunning int32 = iota
	jobReleased
	jobAbandoned
)

// Done releases the job: it rolls back a transaction still open, unlocks the
// job and gives the connection back to the pool. When the unlock cannot be
// confirmed, or a shutdown or [Client.Close] released the job meanwhile, the
// connection is closed instead, so PostgreSQL drops the lock with the session
// and no later job can inherit it. Call Done exactly once
// for every job LockJob returned, after Delete or Error; calling it again does
// nothing.
func (j *Job) Done() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done {
		return
	}
	j.done = true
	j.endTx()
	if j.locker != nil {
		j.releaseBatch()
		j.doneBatch()
	} else if j.conn != nil {
		j.release()
	}
	if j.cancel != nil {
		j.cancel()
	}
	if j.client != nil {
		j.client.untrack(j)
	}
}

// claim abandons the job if it still holds its connection, and cancels its
// context. It reports false when the job was released first: its session
// may already serve another job or the application, and must be left alone.
func (j *Job) claim() bool {
	if !j.state.CompareAndSwap(jobRunning, jobAbandoned) {
		return false
	}
	if j.cancel != nil {
		j.cancel()
	}
	return true
}

// isAbandoned reports whether a shutdown or Close gave up on the job.
func (j *Job) isAbandoned() bool {
	return j.state.Load() == jobAbandoned
}

// sessions lists the server sessions to end so that a claimed job's lock
// goes: the one holding the lock and, for a batch job, its Tx's.
func (j *Job) sessions() []session {
	var held []session
	if j.sess.pid != 0 {
		held = append(held, j.sess)
	}
	if tx := j.txSession.Load(); tx != nil {
		held = append(held, *tx)
	}
	return held
}

// closeSocket closes the network connection under a claimed job's pinned
// connection, from outside the job's goroutine (a net.Conn may be closed
// concurrently with its use). An idle session then ends at once with its
// lock, even when the server cannot be reached to terminate it; a session
// busy in a statement notices at the statement's end. The job's goroutine
// finds its connection broken, and Done discards it. On another driver
// than pgx v4's, whose socket qg cannot reach, the connection is discarded
// through database/sql instead, in a goroutine: database/sql lets it go once
// the statement in flight, if any, returns.
func (j *Job) closeSocket() {
	switch {
	case j.locker != nil || j.conn == nil:
	case j.pgxConn != nil:
		_ = j.pgxConn.PgConn().Conn().Close()
	default:
		go discardConn(j.conn)
	}
}

// release unlocks the job and gives its connection back to the pool. It
// discards the connection instead when the unlock is not confirmed or could
// not run after the job's commit, and when the job was abandoned: its
// session is being ended, and may still hold the lock or be in the middle
// of the job's work.
func (j *Job) release() {
	if !j.state.CompareAndSwap(jobRunning, jobReleased) {
		discardConn(j.conn)
		return
	}
	j.sess = session{} // nothing may end this session once it is back in the pool
	ctx, cancel := finishContext()
	defer cancel()
	keep := !j.broken
	if keep && !j.unlocked {
		var unlocked bool
		err := j.conn.QueryRowContext(ctx, unlockJob, j.ID).Scan(&unlocked)
		keep = err == nil && unlocked
	}
	putBack(j.conn, keep)
}

// releaseBatch is release for a batch job, before doneBatch gives its Tx's
// connection (which holds no lock) back: that connection is discarded when
// the job was abandoned, since its session is being ended, and when it is
// not idle.
func (j *Job) releaseBatch() {
	if !j.state.CompareAndSwap(jobRunning, jobReleased) {
		if j.conn != nil {
			discardConn(j.conn)
		}
		return
	}
	j.sess = session{}
	j.txSession.Store(nil)
	if j.conn != nil && !isIdle(j.conn) {
		discardConn(j.conn)
	}
}
