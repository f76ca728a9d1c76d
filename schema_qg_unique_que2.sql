-- Unique jobs on a Ruby Que 2.x table (schema version 7), whose key column
-- is id: release the key of a job that left public.que_jobs (deleted: worked
-- by a Go or Ruby worker, or by hand) or ended in it (finished or expired),
-- as qg_unique_release does on the 0.x table. id is the table's primary
-- key, so no other row shares it. A trigger must never fail a delete or an
-- update of Ruby's: a missing qg_unique is skipped, and the function runs as
-- its owner with a pinned search_path (see schema_qg_unique.sql).
CREATE OR REPLACE FUNCTION qg_unique_release_que2() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  released bigint := CASE TG_OP WHEN 'DELETE' THEN OLD.id ELSE NEW.id END;
BEGIN
  IF to_regclass('qg_unique') IS NULL THEN
    RETURN NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM qg_unique WHERE job_id = released AND expires_at IS NULL) THEN
    DELETE FROM qg_unique WHERE job_id = released AND hold = '0' AND expires_at IS NULL;
    UPDATE qg_unique SET expires_at = clock_timestamp() + hold
    WHERE job_id = released AND expires_at IS NULL;
  END IF;
  RETURN NULL;
END
$$;
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION qg_unique_release_que2() SET search_path = %I, pg_temp', current_schema());
END
$$;
REVOKE EXECUTE ON FUNCTION qg_unique_release_que2() FROM PUBLIC;
