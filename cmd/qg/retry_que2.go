package main

import "fmt"

// The retry statements of the Ruby Que 2.x table (public.que_jobs, keyed by
// id), with the parameters and result columns of retryByID and
// retryInQueue. There a given-up job is expired (expired_at set) in its own
// queue; retry clears expired_at and makes it run now. error_count and the
// last error are kept, for the record, as on the 0.x table: a job past the
// retry limit expires again at its next failure.
const retryQue2Statement = `/* qg-cli:retry_que2 */ WITH candidates AS (%s),
tried AS (
  SELECT c.*, pg_try_advisory_xact_lock(c.id) AS free
  FROM candidates AS c
),
retried AS (
  UPDATE public.que_jobs AS j
  SET expired_at = NULL, run_at = now()
  FROM tried AS t
  WHERE t.free AND j.id = t.id AND j.run_at = t.run_at AND j.error_count = t.error_count
    AND j.finished_at IS NULL
  RETURNING j.id, j.queue
)
SELECT t.id, t.job_class, t.queue, t.error_count, t.last_error_message, r.queue,
  CASE WHEN r.id IS NOT NULL THEN 'retried' WHEN NOT t.free THEN 'locked' ELSE 'changed' END
FROM tried AS t LEFT JOIN retried AS r USING (id)
ORDER BY t.id`

// retryQue2ByID picks job $1 when it is expired or has failed ($2, the
// dead-letter prefix of the 0.x table, is unused here).
var retryQue2ByID = fmt.Sprintf(retryQue2Statement, `SELECT id, queue, run_at, job_class,
  error_count, last_error_message
  FROM public.que_jobs
  WHERE id = $1::bigint AND finished_at IS NULL AND (error_count > 0 OR expired_at IS NOT NULL)
    AND $2::text IS NOT NULL`)

// retryQue2InQueue picks the next $4 jobs of queue $1 (the dead-letter
// name qg:dead:<queue> stands for the queue's expired jobs) after id $3:
// the expired ones, or when $5 the failed ones waiting for their next try.
var retryQue2InQueue = fmt.Sprintf(retryQue2Statement, `SELECT id, queue, run_at, job_class,
  error_count, last_error_message
  FROM public.que_jobs
  WHERE queue = CASE WHEN left($1::text, length($2::text)) = $2::text
                     THEN substr($1::text, length($2::text) + 1) ELSE $1::text END
    AND id > $3::bigint AND finished_at IS NULL
    AND CASE WHEN $5::boolean THEN error_count > 0 AND run_at > now() AND expired_at IS NULL
             ELSE expired_at IS NOT NULL END
  ORDER BY id
  LIMIT $4::int`)
