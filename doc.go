// Package qg runs background jobs out of PostgreSQL, in the que_jobs table
// of Ruby's Que 0.x, so Go and Ruby programs can enqueue and work the same
// jobs.
//
// # Opening the pool
//
// qg works on a database/sql pool opened with the pgx stdlib driver:
//
//	db, err := sql.Open("pgx", "postgres://user@host/db")  // import _ "github.com/jackc/pgx/v4/stdlib"
//	if err := qg.Migrate(ctx, db); err != nil { ... }      // creates que_jobs if missing
//	c, err := qg.NewClient2(db)
//
// [PrepareStatements] may be used in a stdlib.OptionAfterConnect hook; it is
// an optimisation only, and every statement works on unprepared connections
// too (an application's own pool used with [Client.EnqueueInTx] included).
//
// # Connection poolers
//
// Workers need a server session per connection, since a job's lock is a
// session advisory lock: connect them directly, or through PgBouncer in
// session mode. Before a Client first locks a job it probes its pool, and
// behind a transaction or statement pooler it refuses to lock with an error
// wrapping [ErrSessionPooler]. Enqueue-only Clients may use such a pooler.
//
// # Locking and the pinned connection
//
// [Client.LockJob] walks a queue's runnable jobs in (priority, run_at, job_id)
// order with one recursive query and takes the first job whose session
// advisory lock is free, then checks with a fresh snapshot that the job was
// not finished in the meantime. A session lock lives on its connection, not
// in a transaction, so the *sql.Conn that took it is taken out of the pool
// and pinned to the Job until [Job.Done]. Done unlocks and gives the
// connection back; when the unlock cannot be confirmed it closes the
// connection instead, because a lock left on a pooled connection would let
// that connection lock the same job again (advisory locks are re-entrant).
// If a worker process dies, PostgreSQL ends its session and the lock goes
// with it: the job is simply found again by another worker. Nothing is lost.
//
// A [Worker] begins the job's transaction ([Job.Tx]) on the same pinned
// connection and deletes the job inside it, so the work's own writes and the
// job's removal commit together or not at all. A WorkFunc error rolls the
// transaction back, and [Job.Error] records the failure afterwards (Que's
// backoff, see [Backoff]). A job in flight therefore uses exactly one
// connection: a pool of N workers needs N connections of the *sql.DB
// (SetMaxOpenConns at least N plus what the rest of the program uses).
//
// [Job.Conn] hands out the pgx connection under the pinned *sql.Conn. It is
// safe to use while the job is being worked, because nothing else can use the
// pinned connection until Done; do not use it after Done, nor at the same
// time as Job.Tx.
//
// # Batch locking
//
// A [WorkerPool] with Batch set trades the one-connection-per-job design for
// throughput: one session locks a batch of jobs per walk and holds their
// session locks while the workers run them, then deletes finished jobs in a
// committed transaction and unlocks them, pipelined with the next walk. A
// crash still ends that session and releases every lock. While it holds
// jobs, the locker checks its session at least every second; when the
// session is lost, the jobs it held are cancelled and may run elsewhere, so
// a failure of their runs is not recorded (a batch job's failure is
// recorded only while the session holding its lock still holds it). A job
// whose WorkFunc calls Job.Tx (or Job.Conn) gets a pool connection, and the
// locker hands the job's lock to that connection's session before Tx
// returns: the connection waits for the lock, and the locker releases it
// only once the server shows that wait, so PostgreSQL grants it to the
// waiter as part of the release and no other session can take the job in
// between. From then on the job is held as in the default mode: its
// transaction is on the session holding its lock, its writes and its
// removal commit together, and a lost locker session no longer concerns it.
//
// # One round trip per lock
//
// A Worker locks a job in one round trip: BEGIN, the lock walk and a
// re-check that the job is still there go to the server as one pipeline,
// and the re-check, a later statement at READ COMMITTED, sees a snapshot
// newer than the walk's. When the sessions default to REPEATABLE READ or
// SERIALIZABLE (default_transaction_isolation), a later statement would see
// the walk's snapshot, so the Client notices and from then on walks first
// and begins the job's transaction after, one round trip more. A job that
// someone else deleted while it ran (an operator, or a run elsewhere after
// this one lost its lock) is not finished by this run: the delete in its
// commit fails, and its transaction's work rolls back.
//
// # Production settings
//
// [WorkerConfig], embedded in Worker and WorkerPool, holds a job timeout, the
// backoff, an optional error limit after which a job moves to its dead-letter
// queue ([DeadQueue]), lifecycle [Hooks], a [Middleware] around each job's
// run (tracing and metrics: the modules under contrib/) and a *slog.Logger.
// A WorkFunc may return [RetryIn], [RetryAt] or [GiveUp] to choose what
// happens next.
// [WorkerPool.Run] runs a pool until a context ends. [InstallNotifyTrigger]
// and WorkerPool.Listen wake idle workers as soon as a job is inserted, by
// any producer; a Client's own enqueues wake its idle workers anyway.
//
// # Periodic jobs
//
// A [Scheduler] enqueues a job on every tick of a [Schedule] ([Every] or a
// cron expression, see [ParseCron]), exactly once per tick across any
// number of processes: each tick is claimed in the side table qg_periodic in
// the same transaction as its job's insert.
//
// # Unique jobs
//
// A Job with Unique, UniqueKey or UniqueFor set is enqueued only when no
// equal job (same queue, type and args compared as JSON, or the same
// UniqueKey) holds its key: a duplicate inserts nothing, returns nil and sets
// [Job.Duplicate] and the ID of the job holding the key. A job holds its key
// from its enqueue's commit for as long as it is in que_jobs, and UniqueFor
// longer. Keys live in the side table qg_unique ([Migrate] creates it); the
// triggers on que_jobs that free them whoever finishes the job, a Ruby
// worker included, are opt-in ([EnableUniqueJobs]), and [PruneUnique] drops
// expired keys. See [Job.Unique].
//
// # Keeping finished jobs
//
// [EnableArchive] copies every job deleted from que_jobs (worked by Go or
// Ruby, or deleted by hand) into qg_jobs_archive in the deleting
// transaction, with when it finished and its outcome ([OutcomeWorked] or
// [OutcomeDeleted]); work that rolls back archives nothing. [PruneArchive]
// keeps the archive to a retention period, in short batches; run it
// periodically (a [Scheduler] job does). Given-up jobs are not deleted: they
// stay in their dead-letter queue ([DeadQueue]) with their last error.
//
// # Ruby and Go on one table
//
// The table is Que 0.x's, schema version 3 (the table comment '3');
// [NewClient2] refuses a table of another Que version with a clear error.
// Ruby Que writes args as a JSON array and splats it into run(*args), and
// job_class is a Ruby class name such as "Billing::ChargeCard": a Go job
// meant for a Ruby worker must carry an array and a class name Ruby knows.
// Ruby writes integers beyond 2^53 exactly; [Job.DecodeArgs] decodes numbers
// as json.Number so none is rounded. Both sides skip jobs the other has
// locked, use the same backoff, and keep failed jobs in the table.
//
// # Enqueueing inside your own transaction
//
// [Client.EnqueueInTx] inserts the job with the application's *sql.Tx, so
// the job exists if and only if the application's writes commit.
//
// # Testing a WorkFunc
//
// [TestInjectJobTx] and [TestInjectJobConn] give a hand-built Job a
// transaction or connection of the test's own, so a WorkFunc can be called
// directly and its writes inspected and rolled back.
package qg
