package qg

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v4"
)

// Job is one row of que_jobs. A Job returned by [Client.LockJob] holds the
// job's session advisory lock on a connection of its own until [Job.Done].
type Job struct {
	// ID is the job's job_id, assigned by the database.
	ID int64

	// Queue is the queue's name. The empty string is Que's default queue.
	Queue string

	// Priority orders jobs: lower numbers run first. When enqueueing, zero
	// means Que's default, 100.
	Priority int16

	// RunAt is when the job becomes runnable. When enqueueing, the zero time
	// means now() on the database server.
	RunAt time.Time

	// Type is the job class: the key of a WorkMap in Go, the class name
	// (for example "Billing::ChargeCard") for a Ruby worker. Required.
	Type string

	// Args is the job's arguments as JSON. When enqueueing, empty Args are
	// stored as []. Jobs meant for Ruby workers must carry a JSON array:
	// Ruby splats it into the job's run method.
	Args []byte

	// ErrorCount is the number of times the job has failed.
	ErrorCount int32

	// LastError is the message of the job's last failure, if any (on a
	// Ruby Que 2.x table, last_error_message).
	LastError sql.NullString

	// Kwargs is a Ruby Que 2.x job's keyword arguments, a JSON object: Que
	// 2 calls run(*args, **kwargs). When enqueueing, empty Kwargs are
	// stored as {}. A Que 0.x table has no such column: an enqueue with
	// Kwargs, Tags or Data fails there with [ErrNeedsQue2].
	Kwargs []byte

	// Tags are a Ruby Que 2.x job's tags, kept in data.tags: at most 5,
	// each at most 100 characters of JSON text (Que's limits; an enqueue
	// beyond them fails with [ErrInvalidTags]). LockJob fills them from
	// data.tags.
	Tags []string

	// Data is a Ruby Que 2.x job's data column, a JSON object: Que keeps
	// tags in its "tags" key, and other keys (a trace context, say) are
	// free for producers and WorkFuncs. When enqueueing, empty Data is
	// stored as {}, and Tags are put in its "tags" key. LockJob fills it
	// with the stored object.
	Data []byte

	// Unique makes an enqueue skip the job when an equal one is already
	// there. Equal means the same Queue, Type and Args (compared as JSON:
	// key order and spacing do not matter, 1 and 1.0 differ) or, when
	// UniqueKey is set, the same UniqueKey. Setting UniqueKey or UniqueFor
	// makes a job unique too. Zero: not unique.
	//
	// A unique job holds its key from the commit of its enqueue for as long
	// as it is in que_jobs: queued, scheduled, running, or failed and
	// waiting for its retry. It frees the key when it leaves que_jobs,
	// whoever deletes it (a Go or a Ruby worker that worked it, or a DELETE
	// by hand), and when a Worker gives it up ([DeadQueue]); with UniqueFor,
	// only UniqueFor later. An enqueue whose transaction rolls back never
	// took the key.
	//
	// A duplicate is not an error: the enqueue inserts nothing, returns nil,
	// sets Duplicate, and sets ID to the job holding the key (within
	// UniqueFor, that job may be finished). No statement fails, so
	// EnqueueInTx leaves the caller's transaction usable. An enqueue of a
	// key another transaction has taken and not yet committed waits for it,
	// as an insert into a unique index does: it is a duplicate if that
	// transaction commits, and inserts the job if it rolls back (take keys
	// in one order in transactions that take several). In a REPEATABLE READ
	// or SERIALIZABLE transaction, a key taken or freed concurrently is a
	// serialization failure instead.
	//
	// Keys live in the table qg_unique, beside que_jobs; [Migrate] creates
	// it, and [EnableUniqueJobs] (opt-in, once) installs the triggers on
	// que_jobs that free keys, so Ruby workers need no change. [PruneUnique] removes expired keys. Only qg's enqueues take
	// keys: a job another producer (Ruby) inserts is never a duplicate and
	// holds no key. A Client's Sync mode ignores uniqueness, and LockJob
	// does not read these fields back.
	Unique bool

	// UniqueKey, when not empty, makes the job unique by this key instead
	// of by queue, type and args: one job per key in all of que_jobs,
	// whatever its queue and type (put the type in the key to scope it).
	// See Unique.
	UniqueKey string

	// UniqueFor keeps a unique job's key taken for this long after the job
	// finished (was worked, deleted or given up), so that an equal job
	// enqueued meanwhile is a duplicate. Zero frees the key as the job
	// finishes. See Unique.
	UniqueFor time.Duration

	// Duplicate is set by an enqueue of a unique job whose key was taken:
	// nothing was inserted and ID is the job that holds the key. Any other
	// enqueue clears it.
	Duplicate bool

	mu            sync.Mutex
	fieldsMu      sync.Mutex // guards the jobFields against readers on other goroutines; held for no statement
	client        *Client
	d             dialect
	conn          *sql.Conn // the pinned connection holding the lock; nil for injected jobs
	pgxConn       *pgx.Conn // the driver connection under conn, or an injected one
	sess          session   // the server session holding the lock
	tx            Txer      // the job's transaction, if one is open
	sync          bool      // run by a Client's Sync mode: not in que_jobs
	injectedTx    bool      // tx is the caller's (TestInjectJobTx): Done leaves it
	ctx           context.Context
	cancel        context.CancelFunc
	state         atomic.Int32            // jobRunning, then jobReleased or jobAbandoned
	deleted       bool                    // Delete ran (in the open transaction, if there is one)
	errored       bool                    // Error ran
	unlocked      bool                    // the commit's pipeline released the lock
	broken        bool                    // the session may still hold the lock: Done closes the connection
	locker        *locker                 // the batch locker holding the lock, if any
	gen           int                     // the locker session generation that locked it
	pendingDelete bool                    // worked without Tx: the locker deletes it
	txErr         error                   // a batch job's Tx could not begin
	txSession     atomic.Pointer[session] // the session of a batch job's Tx, for escalation
	ownLock       atomic.Uint32           // pid of that session once the locker handed it the job's lock
	saved         *jobFields              // the fields as they were before the job's transaction changed them
	done          bool
	// cancelRequested is set when CancelJob asked the job to stop.
	cancelRequested atomic.Bool
}

// Conn returns the pgx connection that holds the job's lock.
//
// database/sql lets a driver connection be used only inside [sql.Conn.Raw];
// qg hands it out anyway because the connection is pinned: it was taken out
// of the pool by LockJob and stays exclusively this job's until [Job.Done],
// so nothing else can use it concurrently. In return you must not use it
// after Done (it may then serve another job or another part of your
// program), nor at the same time as [Job.Tx] (both talk over this one
// connection; use one after the other), nor close it, nor leave it in a
// transaction you began on it yourself. It is nil when the Client's *sql.DB
// uses another driver than pgx v4's stdlib.
func (j *Job) Conn() *pgx.Conn {
	if j.locker != nil && j.conn == nil {
		if err := j.pinBatchConn(false); err != nil {
			j.txErr = err
		}
	}
	return j.pgxConn
}

// Tx returns the transaction the job's work runs in. A Worker begins it on
// the job's pinned connection before calling the WorkFunc and commits it with
// the job's deletion, so the work's writes and the job's removal commit
// together or not at all. Its Commit refuses with [ErrCommitInWorkFunc] and
// commits nothing; a WorkFunc that rolls it back fails the job.
// It is not a *sql.Tx (qg pipelines its BEGIN and COMMIT with its own
// statements); to enqueue a follow-up job in it, use [Client.EnqueueIn]. A
// job from a bare LockJob has no transaction: Tx returns nil.
func (j *Job) Tx() Txer {
	if j.locker != nil {
		return j.batchTx()
	}
	return j.tx
}

// Context returns the job's context. It is done when the job's client is
// closed, and (with the worker's settings) at the job's deadline or when a
// shutdown gives up waiting. A WorkFunc passes it to the calls it makes.
func (j *Job) Context() context.Context {
	if j.ctx == nil {
		return context.Background()
	}
	return j.ctx
}

// holder is the pid of the session holding a batch job's lock, whose
// finishing statements check it holds it still: the locker's session, or,
// once the locker handed the lock over, the job's own connection's. It is
// 0 for a job of the default mode, whose statements run on its lock's
// session.
func (j *Job) holder() uint32 {
	if j.locker == nil {
		return 0
	}
	if pid := j.ownLock.Load(); pid != 0 {
		return pid
	}
	return j.sess.pid
}

// holdsOwnLock reports whether the job's own connection holds its lock: a
// job of the default mode, or a batch job whose lock was handed over.
func (j *Job) holdsOwnLock() bool {
	return j.locker == nil || j.ownLock.Load() != 0
}

// jobArgs is the JSON text to store for j.Args: [] when empty.
func jobArgs(j *Job) string {
	if len(j.Args) == 0 {
		return "[]"
	}
	return string(j.Args)
}
