package qg

import "time"

// The job-control statements of the Ruby Que 2.x table (see que2Table):
// snooze from a WorkFunc or by id, and cancel. A cancelled job that no
// session holds is expired, as Que 2 ends a job it will not run again,
// instead of deleted.

func (que2Table) snoozeJob(j *Job, delay time.Duration, holder uint32) (string, []any) {
	args := []any{j.ID, delay.Seconds()}
	if holder != 0 {
		return que2SnoozeHeldJob, append(args, int64(holder))
	}
	return que2SnoozeJob, args
}

func (que2Table) snoozeByID(id int64, delay time.Duration) (string, []any) {
	return que2SnoozeByID, []any{id, delay.Seconds()}
}

// cancelJob expires job id when no session holds it, or asks the session
// working it to stop, as the 0.x statement does.
func (que2Table) cancelJob(id int64) (string, []any) { return que2CancelJob, []any{id} }

const (
	// que2SnoozeJob moves job $1's next run $2 seconds from now, counting
	// no failure.
	que2SnoozeJob = `/* qg:que2_snooze_job */ UPDATE public.que_jobs
SET run_at = now() + make_interval(secs => $2::double precision)
WHERE id = $1
RETURNING error_count, run_at`

	// que2SnoozeHeldJob is que2SnoozeJob for a batch job (locker pid $3).
	que2SnoozeHeldJob = `/* qg:que2_snooze_held_job */ UPDATE public.que_jobs
SET run_at = now() + make_interval(secs => $2::double precision)
WHERE id = $1` + `
  AND EXISTS (SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid = $3::int
      AND (classid::bigint << 32) + objid::bigint = $1)
RETURNING error_count, run_at`

	// que2SnoozeByID moves job $1's next run $2 seconds from now unless a
	// session holds it.
	que2SnoozeByID = `/* qg:que2_snooze_by_id */ WITH tried AS (
  SELECT id, pg_try_advisory_xact_lock(id) AS free FROM public.que_jobs WHERE id = $1::bigint
), snoozed AS (
  UPDATE public.que_jobs AS j SET run_at = now() + make_interval(secs => $2::double precision)
  FROM tried AS t WHERE t.free AND j.id = t.id
  RETURNING j.id
)
SELECT t.free, EXISTS (SELECT 1 FROM snoozed) FROM tried AS t`

	// que2CancelJob expires job $1 when no session holds it; otherwise it
	// records a cancel request and notifies the session working it.
	que2CancelJob = `/* qg:que2_cancel_job */ WITH tried AS (
  SELECT id, pg_try_advisory_xact_lock(id) AS free FROM public.que_jobs WHERE id = $1::bigint
), expired AS (
  UPDATE public.que_jobs AS j SET expired_at = now()
  FROM tried AS t WHERE t.free AND j.id = t.id AND j.expired_at IS NULL AND j.finished_at IS NULL
  RETURNING j.id
), requested AS (
  INSERT INTO qg_cancelled_jobs (job_id) SELECT id FROM tried WHERE NOT free
  ON CONFLICT (job_id) DO UPDATE SET cancelled_at = now()
  RETURNING job_id
), notified AS (
  SELECT pg_notify('` + cancelChannel + `', job_id::text) FROM requested
), old AS (
  DELETE FROM qg_cancelled_jobs WHERE cancelled_at < now() - interval '1 day'
)
SELECT t.free, EXISTS (SELECT 1 FROM expired), (SELECT count(*) FROM notified) FROM tried AS t`
)
