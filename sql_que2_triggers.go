package qg

import "time"

// The opt-in features' triggers on the Que 2.x table. Each replaces a
// trigger of the same name a Que 0.x table had (a table Ruby migrated from
// 0.x keeps them, and their functions name job_id, which would make every
// delete of Ruby's fail).

func (que2Table) enableUnique() string  { return que2EnableUnique }
func (que2Table) disableUnique() string { return que2DisableUnique }

// installNotify installs nothing on this table: Que 2's own
// que_state_notify trigger reports every insert, and a Listen pool uses it.
// It drops the 0.x notify trigger if one is left.
func (que2Table) installNotify() string { return que2RemoveNotify }
func (que2Table) removeNotify() string  { return que2RemoveNotify }

// installArchive keeps finished jobs the Que 2 way, as rows with
// finished_at set, not as copies in qg_jobs_archive: qg's finishing
// statements look for the trigger and keep the row (see que2Finish), and
// the trigger keeps the rows other workers (Ruby's destroy) delete.
func (que2Table) installArchive() string { return que2InstallArchive }
func (que2Table) removeArchive() string  { return que2RemoveArchive }
func (que2Table) pruneArchive() string   { return que2PruneArchive }

const (
	// que2EnableUnique attaches qg_unique_release_que2 to deletes, to the
	// updates that finish or expire a job, and qg_unique_truncated to
	// truncation, replacing the 0.x triggers of the same names.
	que2EnableUnique = `/* qg:que2_enable_unique */ DROP TRIGGER IF EXISTS qg_unique_deleted ON public.que_jobs;
DROP TRIGGER IF EXISTS qg_unique_buried ON public.que_jobs;
DROP TRIGGER IF EXISTS qg_unique_ended ON public.que_jobs;
DROP TRIGGER IF EXISTS qg_unique_truncated ON public.que_jobs;
CREATE TRIGGER qg_unique_deleted AFTER DELETE ON public.que_jobs
  FOR EACH ROW EXECUTE FUNCTION qg_unique_release_que2();
CREATE TRIGGER qg_unique_ended AFTER UPDATE OF finished_at, expired_at ON public.que_jobs
  FOR EACH ROW
  WHEN ((NEW.finished_at IS NOT NULL AND OLD.finished_at IS NULL)
     OR (NEW.expired_at IS NOT NULL AND OLD.expired_at IS NULL))
  EXECUTE FUNCTION qg_unique_release_que2();
CREATE TRIGGER qg_unique_truncated AFTER TRUNCATE ON public.que_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION qg_unique_truncated()`

	// que2DisableUnique removes them, and the 0.x ones.
	que2DisableUnique = `/* qg:que2_disable_unique */ DROP TRIGGER IF EXISTS qg_unique_deleted ON public.que_jobs;
DROP TRIGGER IF EXISTS qg_unique_buried ON public.que_jobs;
DROP TRIGGER IF EXISTS qg_unique_ended ON public.que_jobs;
DROP TRIGGER IF EXISTS qg_unique_truncated ON public.que_jobs`

	// que2RemoveNotify drops the 0.x notify trigger and its function.
	que2RemoveNotify = `/* qg:que2_remove_notify */ DROP TRIGGER IF EXISTS qg_notify_que_jobs ON public.que_jobs;
DROP FUNCTION IF EXISTS qg_notify_que_jobs()`

	// que2InstallArchive replaces a 0.x archive trigger with one that, for
	// a job neither finished nor expired whose lock a session holds (a Ruby
	// worker's destroy after its run), sets finished_at and skips the
	// deletion, as Que 2's finish would have. A job no worker holds is
	// deleted for real (by hand, Que.clear!), as are finished and expired
	// rows (PruneArchive) and a job qg's DeleteJob removes (it sets qg.delete
	// to 'real' for its transaction, and holds the lock itself).
	que2InstallArchive = `/* qg:que2_install_archive */ CREATE OR REPLACE FUNCTION qg_archive_keep_que2() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF current_setting('qg.delete', true) = 'real' OR NOT EXISTS (SELECT 1 FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND objsubid = 1
        AND (classid::bigint << 32) + objid::bigint = OLD.id
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) THEN
    RETURN OLD;
  END IF;
  UPDATE public.que_jobs SET finished_at = now() WHERE id = OLD.id;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS qg_archive_jobs ON public.que_jobs;
CREATE TRIGGER qg_archive_jobs BEFORE DELETE ON public.que_jobs
  FOR EACH ROW WHEN (OLD.finished_at IS NULL AND OLD.expired_at IS NULL)
  EXECUTE FUNCTION qg_archive_keep_que2()`

	// que2PruneArchive deletes one batch of finished rows (the kept jobs),
	// oldest first, as pruneArchive does in qg_jobs_archive. Expired rows
	// stay: they are given-up jobs, not finished ones.
	que2PruneArchive = `/* qg:que2_prune_archive */ DELETE FROM public.que_jobs
WHERE id = ANY (ARRAY(
  SELECT id FROM public.que_jobs
  WHERE finished_at < now() - make_interval(secs => $1::double precision)
  ORDER BY finished_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED))`

	// que2RemoveArchive drops the archive trigger (this table's, or a 0.x
	// one left by an upgrade) and its function.
	que2RemoveArchive = `/* qg:que2_remove_archive */ DROP TRIGGER IF EXISTS qg_archive_jobs ON public.que_jobs;
DROP FUNCTION IF EXISTS qg_archive_keep_que2()`
)

func (d que2Table) insertUnique(j *Job, key string, hold time.Duration) (string, []any) {
	_, args := d.insertJob(j)
	return que2InsertUnique, append(args, key, max(hold, 0).Seconds())
}

// que2InsertUnique is que0InsertUnique on this table: it takes the job's key
// ($9, held $10 seconds after the job ends) and inserts the job with the id
// it reserved, or returns the job holding the key.
const que2InsertUnique = `/* qg:que2_insert_unique */ WITH armed AS (
  SELECT count(*) = 3 AS ok FROM pg_trigger
  WHERE tgrelid = 'public.que_jobs'::regclass AND tgenabled <> 'D'
    AND tgname IN ('qg_unique_deleted', 'qg_unique_ended', 'qg_unique_truncated')
), fresh AS (
  INSERT INTO qg_unique (key, job_id, hold)
  SELECT $9::text, nextval(pg_get_serial_sequence('public.que_jobs', 'id')::regclass),
    make_interval(secs => $10::double precision)
  FROM armed WHERE ok
  ON CONFLICT (key) DO NOTHING
  RETURNING job_id
), reclaimed AS (
  UPDATE qg_unique
  SET job_id = nextval(pg_get_serial_sequence('public.que_jobs', 'id')::regclass),
    hold = make_interval(secs => $10::double precision), expires_at = NULL
  WHERE key = $9::text AND expires_at <= statement_timestamp()
    AND (SELECT ok FROM armed) AND NOT EXISTS (SELECT FROM fresh)
  RETURNING job_id
), claim AS (
  SELECT job_id FROM fresh UNION ALL SELECT job_id FROM reclaimed
), job AS (
  INSERT INTO public.que_jobs (id, queue, priority, run_at, job_class, args, kwargs, data, job_schema_version)
  SELECT job_id, coalesce(nullif($1::text, ''), 'default'), coalesce($2::smallint, 100),
    coalesce($3::timestamptz, now()), $4::text, $5::jsonb, $6::jsonb, $7::jsonb, $8::integer
  FROM claim
  RETURNING id, priority, run_at
)
SELECT 'inserted', id, priority, run_at FROM job
UNION ALL
SELECT 'duplicate', job_id, NULL, NULL FROM qg_unique
WHERE key = $9::text AND (expires_at IS NULL OR expires_at > statement_timestamp())
  AND (SELECT ok FROM armed) AND NOT EXISTS (SELECT FROM claim)
UNION ALL
SELECT 'unarmed', NULL, NULL, NULL FROM armed WHERE NOT ok`
