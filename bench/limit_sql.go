package main

import "strings"

// The pgbench scripts of "the limit": per job, the statements qg sends in
// each mode, grouped in the same round trips (pgbench's \startpipeline), as
// prepared statements. They were captured from a server running with
// log_statement = all under W1, W2 and W5 (see bench/README.md), and are
// qg's own texts with these changes, which pgbench 15 forces:
//
//   - "qg:" in the leading comments reads "qg " (pgbench takes ":name" for a
//     variable even inside a comment);
//   - a parameter qg binds from a constant is that constant ('' for the
//     queue, '{}' for the skipped ids, 100 for the batch's room);
//   - a parameter qg binds from an earlier result (the job's key for the
//     delete and the unlock, the batch's keys) is read on the server from a
//     setting the earlier statement made: pgbench cannot \gset inside a
//     pipeline nor from more than one row. The walk of the default mode
//     already keeps its key in qg.locked_job (that is qg's own text); the
//     batch walk's pgbench form keeps its keys in qg.batch.
//
// Every script's transaction is one job (the batch walk's: one cycle of up
// to 100), and the rate is jobs deleted per second.

// limitRunAt is the run_at of every job the limits drain: the scripts that
// name a job by its key (batch mode's delete) need to know it.
const limitRunAt = `2026-01-01 00:00:00+00`

// limitW1 is W1's statement: qg's insertJob, as Enqueue binds it for a job
// with only a type and args (the default queue, priority and run_at NULL).
const limitW1 = `/* qg insert_job */ INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
VALUES (''::text, coalesce(NULL::smallint, 100), coalesce(NULL::timestamptz, now()), :cls::text, :args::json)
RETURNING job_id, priority, run_at;
`

// limitWalk is qg's que0Walk with its parameters bound: the default queue,
// and no ids to skip (qg skips the jobs its own workers hold; pgbench's
// clients cannot know each other's).
const limitWalk = `WITH RECURSIVE walk AS (
  SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
  FROM (
    SELECT j FROM que_jobs AS j
    WHERE queue = ''::text AND run_at <= now() AND job_id <> ALL ('{}'::bigint[])
    ORDER BY priority, run_at, job_id
    LIMIT 1
  ) AS first_job
  UNION ALL (
    SELECT (j).*, pg_try_advisory_lock((j).job_id) AS locked
    FROM (
      SELECT (
        SELECT j FROM que_jobs AS j
        WHERE queue = ''::text AND run_at <= now() AND job_id <> ALL ('{}'::bigint[])
          AND (priority, run_at, job_id) > (walk.priority, walk.run_at, walk.job_id)
        ORDER BY priority, run_at, job_id
        LIMIT 1
      ) AS j
      FROM walk
      WHERE walk.job_id IS NOT NULL AND NOT walk.locked
      LIMIT 1
    ) AS next_job
  )
)
`

// limitLockInTx is the first round trip of a Worker's job in the default
// mode: BEGIN, qg's lockJobInTx and lockedJobExists, in one pipeline.
const limitLockInTx = `\startpipeline
BEGIN;
/* qg lock_job_in_tx */ ` + limitWalk + `SELECT queue, priority, run_at, job_id, job_class, args, error_count, last_error,
  set_config('qg.locked_job', json_build_array(queue, priority, run_at, job_id)::text, true)
FROM walk
WHERE locked
LIMIT 1;
/* qg locked_job_exists */ SELECT EXISTS (SELECT 1 FROM que_jobs,
  (SELECT nullif(current_setting('qg.locked_job', true), '')::json AS k) AS locked
WHERE queue = k->>0 AND priority = (k->>1)::smallint
  AND run_at = (k->>2)::timestamptz AND job_id = (k->>3)::bigint),
  current_setting('transaction_isolation') = 'read committed';
\endpipeline
`

// limitFinish is the last round trip of a Worker's job in the default
// mode: qg's deleteLockedJob, COMMIT and unlockJob in one pipeline. The
// delete takes the key the walk kept, and keeps the job's id in a session
// setting for the unlock after the COMMIT; it counts instead of failing
// when the job is gone (a failure would end the pgbench client).
const limitFinish = `\startpipeline
/* qg delete_locked_job */ WITH deleted AS (
  DELETE FROM que_jobs
  USING (SELECT nullif(current_setting('qg.locked_job', true), '')::json AS k) AS locked
  WHERE queue = k->>0 AND priority = (k->>1)::smallint
    AND run_at = (k->>2)::timestamptz AND job_id = (k->>3)::bigint
  RETURNING 1)
SELECT count(*),
  set_config('qg.unlock', coalesce(nullif(current_setting('qg.locked_job', true), '')::json->>3, '0'), false)
FROM deleted;
COMMIT;
/* qg unlock_job */ SELECT pg_advisory_unlock(current_setting('qg.unlock')::bigint);
\endpipeline
`

// limitWork is W5's job: appInsert, bound to a seq pgbench draws.
const limitWork = `INSERT INTO bench_rows (seq) VALUES (:seq);
`

// limitDefaultW2 is a no-op job in the default mode: two round trips.
const limitDefaultW2 = limitLockInTx + limitFinish

// limitDefaultW5 is a W5 job in the default mode: three round trips.
const limitDefaultW5 = `\set seq random(0, 999999)
` + limitLockInTx + limitWork + limitFinish

// limitBatchKeys is the keys the batch walk kept in qg.batch, as the
// column rows qg's unnest of bound arrays yields.
const limitBatchKeys = `SELECT k->>0 AS q, (k->>1)::smallint AS p, (k->>2)::timestamptz AS r, (k->>3)::bigint AS id
  FROM json_array_elements(coalesce(nullif(current_setting('qg.batch', true), ''), '[]')::json) AS k`

// limitBatchW2 is one cycle of the batch locker with no-op jobs, on one
// connection: the last cycle's jobs deleted in a transaction and unlocked,
// and up to 100 more locked, in one pipeline (qg's deleteJobs, unlockJobs
// and lockJobs); then qg's jobsExist on the jobs locked.
var limitBatchW2 = `\startpipeline
BEGIN;
/* qg delete_jobs */ DELETE FROM que_jobs
WHERE (queue, priority, run_at, job_id) IN (
  SELECT q, p, r, id FROM (` + limitBatchKeys + `) AS k);
COMMIT;
/* qg unlock_jobs */ SELECT id FROM (` + limitBatchKeys + `) AS k WHERE NOT pg_advisory_unlock(id);
/* qg lock_jobs */ ` + limitBatchWalk + `SELECT set_config('qg.batch',
  coalesce(json_agg(json_build_array(queue, priority, run_at, job_id))::text, '[]'), false)
FROM (
  SELECT queue, priority, run_at, job_id, job_class, args, error_count, last_error
  FROM walk
  WHERE locked
  LIMIT 100
) AS locked;
\endpipeline
/* qg jobs_exist */ SELECT job_id FROM que_jobs
WHERE (queue, priority, run_at, job_id) IN (
  SELECT q, p, r, id FROM (` + limitBatchKeys + `) AS k);
`

// limitBatchWalk is qg's lockJobs walk: limitWalk going on past locked
// rows.
var limitBatchWalk = strings.Replace(limitWalk,
	"WHERE walk.job_id IS NOT NULL AND NOT walk.locked", "WHERE walk.job_id IS NOT NULL", 1)

// limitBatchW5 is a W5 job in batch mode, on a connection of its own: BEGIN,
// the insert, qg's deleteHeldJob and COMMIT, each a round trip as qg sends
// them. The locker's part (one walk, one check and one unlock for up to 100
// jobs) is stood in for by a lock of the job in BEGIN's round trip and an
// unlock in COMMIT's, so that the delete finds its job held; the job is
// the client's next in a stripe of the queue (pgbench variables k, nc and
// base), and held by the client's own session (pid).
const limitBatchW5 = `\set k :k + 1
\set id :base + :client_id + :nc * (:k - 1)
\set seq random(0, 999999)
\startpipeline
BEGIN;
SELECT pg_advisory_lock(:id);
\endpipeline
` + limitWork + `/* qg delete_held_job */ WITH holder AS (
  SELECT set_config('qg.lock_holder', pg_backend_pid()::int::text, true) AS pid)
DELETE FROM que_jobs
WHERE queue = ''::text AND priority = 100 AND run_at = '` + limitRunAt + `'::timestamptz AND job_id = :id
  AND EXISTS (SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid = pg_backend_pid()::int
      AND (classid::bigint << 32) + objid::bigint = :id)
  AND EXISTS (SELECT FROM holder);
\startpipeline
COMMIT;
SELECT pg_advisory_unlock(:id);
\endpipeline
`
