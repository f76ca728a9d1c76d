package main

// chaosQueue is the queue the chaos jobs go to, and jobType their job_class.
const (
	chaosQueue = "chaos"
	jobType    = "Chaos"
)

// schemaSQL creates the command's own tables in the scratch database, beside
// que_jobs.
//
// chaos_effects has no unique key on job_id on purpose: a job whose effect
// committed twice must show up as two rows, not as a failed second commit
// nobody sees. Every other table is written by the workers on a connection
// pool separate from qg's (autocommit), so it records what happened even
// when the job's own transaction rolls back or its session dies.
const schemaSQL = `
CREATE TABLE chaos_enqueued (     -- every job enqueued, with its argument
  job_id bigint PRIMARY KEY,
  arg    integer NOT NULL
);
CREATE TABLE chaos_effects (      -- the job's work, written in the job's transaction
  id     bigserial PRIMARY KEY,
  job_id bigint NOT NULL,
  arg    integer NOT NULL,
  token  text NOT NULL,           -- the worker process
  run    text NOT NULL,           -- the WorkFunc call
  locked boolean NOT NULL,        -- the session held the job's lock when it wrote this
  lock_ended boolean NOT NULL DEFAULT false, -- batch mode: not locked, the supervisor ended the lock session
  at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON chaos_effects (job_id);
CREATE INDEX ON chaos_effects (token, at);
CREATE TABLE chaos_running (      -- the claim of the run working a job now
  job_id        bigint PRIMARY KEY,
  run           text NOT NULL,
  token         text NOT NULL,
  backend_pid   integer NOT NULL,     -- the session holding the job's lock
  backend_start timestamptz NOT NULL,
  pm_start      timestamptz NOT NULL, -- that session's server start time
  since         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE chaos_attempts (     -- every WorkFunc call
  run           text PRIMARY KEY,
  job_id        bigint NOT NULL,
  token         text NOT NULL,
  backend_pid   integer NOT NULL,
  backend_start timestamptz NOT NULL,
  at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE chaos_overlaps (     -- a run that found a live run of the same job, and what the server said then
  run           text PRIMARY KEY,
  job_id        bigint NOT NULL,
  token         text NOT NULL,
  backend_pid   integer NOT NULL,  -- this run's session
  holder_run    text NOT NULL,
  holder_token  text NOT NULL,
  holder_pid    integer,           -- the holder's session,
  holder_alive  boolean,           -- whether it still existed,
  holder_state  text,              -- its state and statement
  holder_query  text,
  lock_pids     integer[],         -- the sessions holding the job's lock
  at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE chaos_stale (        -- claims of dead runs, found and cleared by a later run
  run    text PRIMARY KEY,
  job_id bigint NOT NULL
);
CREATE TABLE chaos_lockless (     -- batch mode: a run that found its job's lock gone as it began
  run    text PRIMARY KEY,
  job_id bigint NOT NULL,
  token  text NOT NULL,
  tx_pid integer NOT NULL,        -- the session of the job's transaction
  reason text NOT NULL,           -- why the run counts as dead
  at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE chaos_unlocked (     -- a run whose session did not hold the job's lock
  run    text PRIMARY KEY,
  job_id bigint NOT NULL,
  token  text NOT NULL
);
CREATE TABLE chaos_killed (       -- worker processes the supervisor killed, recorded before the kill
  token text PRIMARY KEY,
  at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE chaos_terminated (   -- sessions the supervisor ended, recorded before ending them
  pid              integer NOT NULL,
  backend_start    timestamptz NOT NULL,
  application_name text,
  round            integer NOT NULL,
  PRIMARY KEY (pid, backend_start)
);
CREATE TABLE chaos_shutdowns (    -- what each worker process saw when it stopped
  token      text PRIMARY KEY,
  runs       bigint NOT NULL,
  locks_held integer NOT NULL
);`

// sqlIdentify runs in the job's transaction, so on the session holding the
// job's lock: it names that session (pid, start, and the server's start) and
// says whether the session holds the job's advisory lock.
const sqlIdentify = `SELECT a.pid, a.backend_start, pg_postmaster_start_time(),
  EXISTS (SELECT 1 FROM pg_locks AS l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.pid = a.pid AND l.database = d.oid
      AND (l.classid::bigint << 32) + l.objid::bigint = $1)
FROM pg_stat_activity AS a, pg_database AS d
WHERE a.pid = pg_backend_pid() AND d.datname = current_database()`

// sqlClaim counts an attempt and claims job $1 for run $2, unless another
// run holds the claim; it returns the run when the claim was taken.
const sqlClaim = `WITH attempt AS (
  INSERT INTO chaos_attempts (run, job_id, token, backend_pid, backend_start) VALUES ($2, $1, $3, $4, $5)
  ON CONFLICT (run) DO NOTHING
)
INSERT INTO chaos_running (job_id, run, token, backend_pid, backend_start, pm_start)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (job_id) DO NOTHING
RETURNING run`

// sqlHolder returns the run claiming job $1 and whether that run is dead,
// and whether the asking run (token $2, session $3 started at $4 on a server
// started at $5) is dead itself. A run is dead when its process was killed,
// its session terminated or its server restarted. The supervisor records
// kills and terminations before doing them, so a run is only ever dead here
// if it was recorded so; and both answers come from one snapshot, so two
// runs found alive were alive at the same moment.
const sqlHolder = `SELECT r.run, r.token,
  r.token IN (SELECT token FROM chaos_killed)
  OR EXISTS (SELECT 1 FROM chaos_terminated AS t
    WHERE t.pid = r.backend_pid AND t.backend_start = r.backend_start)
  OR r.pm_start <> pg_postmaster_start_time(),
  $2::text IN (SELECT token FROM chaos_killed)
  OR EXISTS (SELECT 1 FROM chaos_terminated AS t
    WHERE t.pid = $3::integer AND t.backend_start = $4::timestamptz)
  OR $5::timestamptz <> pg_postmaster_start_time()
FROM chaos_running AS r
WHERE r.job_id = $1`

// sqlUnclaim drops run $2's claim on job $1.
const sqlUnclaim = `DELETE FROM chaos_running WHERE job_id = $1 AND run = $2`

// sqlClearDead drops the claim of dead run $2 on job $1 and keeps a note of
// it in chaos_stale.
const sqlClearDead = `WITH gone AS (
  DELETE FROM chaos_running WHERE job_id = $1 AND run = $2 RETURNING run, job_id
)
INSERT INTO chaos_stale (run, job_id) SELECT run, job_id FROM gone
ON CONFLICT (run) DO NOTHING`

// sqlOverlap records that run $1 of job $2, on session $6, found run $4
// working it too, with what the server says of the holder's session and of
// the job's lock at this moment.
const sqlOverlap = `INSERT INTO chaos_overlaps (run, job_id, token, holder_run, holder_token, backend_pid,
  holder_pid, holder_alive, holder_state, holder_query, lock_pids)
SELECT $1, $2, $3, $4, $5, $6, r.backend_pid, a.pid IS NOT NULL, a.state, left(a.query, 300),
  (SELECT array_agg(l.pid) FROM pg_locks AS l
   WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
     AND (l.classid::bigint << 32) + l.objid::bigint = $2
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
FROM (VALUES (1)) AS one (n)
LEFT JOIN chaos_running AS r ON r.job_id = $2 AND r.run = $4
LEFT JOIN pg_stat_activity AS a ON a.pid = r.backend_pid AND a.backend_start = r.backend_start
ON CONFLICT (run) DO NOTHING`

// sqlUnlocked records that run $1 of job $2 did not hold the job's lock.
const sqlUnlocked = `INSERT INTO chaos_unlocked (run, job_id, token)
VALUES ($1, $2, $3) ON CONFLICT (run) DO NOTHING`

// sqlEffect writes the job's effect; it runs in the job's transaction, and
// notes whether the session still holds the job's lock.
const sqlEffect = `INSERT INTO chaos_effects (job_id, arg, token, run, locked)
SELECT $1, $2, $3, $4, EXISTS (SELECT 1 FROM pg_locks AS l
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid = pg_backend_pid()
    AND (l.classid::bigint << 32) + l.objid::bigint = $1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`

// sqlUnlockEarly releases the job's lock in the middle of its run: the
// deliberate bug of -fault=unlock-early.
const sqlUnlockEarly = `SELECT pg_advisory_unlock($1)`

// sqlOwnLocks counts the advisory locks held by the sessions named $1 in the
// scratch database.
const sqlOwnLocks = `SELECT count(*) FROM pg_locks AS l
JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND a.application_name = $1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`

// sqlShutdown records what a worker process saw when it stopped.
const sqlShutdown = `INSERT INTO chaos_shutdowns (token, runs, locks_held) VALUES ($1, $2, $3)
ON CONFLICT (token) DO NOTHING`
