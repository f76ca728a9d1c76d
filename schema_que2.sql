-- The Ruby Que 2.x tables, Que schema version 7 (job_schema_version 2): the
-- layout Ruby's Que.migrate!(version: 7) leaves behind, written afresh for a
-- Go-first team, so that Ruby Que 2.x opens it as its own and can migrate it
-- further. Names, columns, defaults, checks, indexes, functions, triggers
-- and the table comment are those of Que's catalog; MigrateQue2 runs this
-- only when que_jobs is missing.
CREATE TABLE public.que_jobs (
  priority             smallint    NOT NULL DEFAULT 100,
  run_at               timestamptz NOT NULL DEFAULT now(),
  id                   bigserial   NOT NULL,
  job_class            text        NOT NULL,
  error_count          integer     NOT NULL DEFAULT 0,
  last_error_message   text,
  queue                text        NOT NULL DEFAULT 'default',
  last_error_backtrace text,
  finished_at          timestamptz,
  expired_at           timestamptz,
  args                 jsonb       NOT NULL DEFAULT '[]',
  data                 jsonb       NOT NULL DEFAULT '{}',
  job_schema_version   integer     NOT NULL,
  kwargs               jsonb       NOT NULL DEFAULT '{}',

  CONSTRAINT que_jobs_pkey PRIMARY KEY (id)
) WITH (fillfactor = 90);

-- Tags live in data.tags: each one a JSON string whose JSON text (quotes and
-- escapes counted) is at most 100 characters. No element fails on an empty
-- array.
CREATE FUNCTION public.que_validate_tags(tags_array jsonb) RETURNS boolean
LANGUAGE sql AS $$
  SELECT bool_and(jsonb_typeof(tag) = 'string' AND char_length(tag::text) <= 100)
  FROM jsonb_array_elements(tags_array) AS t (tag)
$$;

ALTER TABLE public.que_jobs
  ADD CONSTRAINT queue_length CHECK (char_length(queue) <= 100),
  -- An ActiveJob wrapper is measured by the class it wraps, in args[0].
  ADD CONSTRAINT job_class_length CHECK (char_length(
    CASE WHEN job_class = 'ActiveJob::QueueAdapters::QueAdapter::JobWrapper'
      THEN args -> 0 ->> 'job_class' ELSE job_class END) <= 200),
  ADD CONSTRAINT valid_args CHECK (jsonb_typeof(args) = 'array'),
  ADD CONSTRAINT valid_data CHECK (jsonb_typeof(data) = 'object' AND (
    NOT (data ? 'tags') OR (
      jsonb_typeof(data -> 'tags') = 'array'
      AND jsonb_array_length(data -> 'tags') <= 5
      AND public.que_validate_tags(data -> 'tags')))),
  ADD CONSTRAINT error_length CHECK (char_length(last_error_message) <= 500
    AND char_length(last_error_backtrace) <= 10000);

-- The index Que's poller walks: the runnable rows of one job schema version
-- and queue, in priority, run_at, id order.
CREATE INDEX que_poll_idx ON public.que_jobs (job_schema_version, queue, priority, run_at, id)
  WHERE finished_at IS NULL AND expired_at IS NULL;
CREATE INDEX que_jobs_data_gin_idx ON public.que_jobs USING gin (data jsonb_path_ops);
CREATE INDEX que_jobs_args_gin_idx ON public.que_jobs USING gin (args jsonb_path_ops);
CREATE INDEX que_jobs_kwargs_gin_idx ON public.que_jobs USING gin (kwargs jsonb_path_ops);

-- Que 2 keeps free-form settings here; its library code does not use it.
CREATE TABLE public.que_values (
  key   text  PRIMARY KEY,
  value jsonb NOT NULL DEFAULT '{}',
  CONSTRAINT valid_value CHECK (jsonb_typeof(value) = 'object')
) WITH (fillfactor = 90);

-- One row per running Ruby locker, keyed by the backend pid of the locker's
-- connection. que_job_notify sends new jobs to the listening ones.
CREATE UNLOGGED TABLE public.que_lockers (
  pid                integer NOT NULL CONSTRAINT que_lockers_pkey PRIMARY KEY,
  worker_count       integer NOT NULL,
  worker_priorities  integer[] NOT NULL,
  ruby_pid           integer NOT NULL,
  ruby_hostname      text    NOT NULL,
  queues             text[]  NOT NULL,
  listening          boolean NOT NULL,
  job_schema_version integer DEFAULT 1,
  -- One dimension and at least one element ({NULL} is "any priority").
  CONSTRAINT valid_worker_priorities CHECK (array_ndims(worker_priorities) = 1
    AND array_length(worker_priorities, 1) IS NOT NULL),
  CONSTRAINT valid_queues CHECK (array_ndims(queues) = 1
    AND array_length(queues, 1) IS NOT NULL)
);

-- After the insert of a row that is due: tell one listening locker of the
-- row's queue and job schema version. Each locker counts once per worker;
-- the slots are shuffled by md5(pid, slot) and the job id picks one, so
-- lockers share the jobs by their worker counts. The payload is small on
-- purpose (a NOTIFY payload is limited): the locker reads the row itself.
CREATE FUNCTION public.que_job_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  chosen integer;
  payload json;
BEGIN
  IF NEW.run_at IS NOT NULL AND NEW.run_at > now() THEN
    RETURN NULL;
  END IF;

  SELECT slots.pid INTO chosen
  FROM (
    SELECT l.pid,
      row_number() OVER (ORDER BY md5(l.pid::text || slot::text)) - 1 AS n,
      count(*) OVER () AS total
    FROM public.que_lockers AS l, generate_series(1, l.worker_count) AS slot
    WHERE l.listening AND l.queues @> ARRAY[NEW.queue]
      AND l.job_schema_version = NEW.job_schema_version
  ) AS slots
  WHERE slots.n = NEW.id % slots.total;

  IF chosen IS NULL THEN
    RETURN NULL;
  END IF;

  SELECT row_to_json(msg) INTO payload
  FROM (SELECT 'job_available' AS message_type, NEW.queue AS queue,
    NEW.priority AS priority, NEW.id AS id,
    to_char(NEW.run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS run_at) AS msg;
  PERFORM pg_notify('que_listener_' || chosen::text, payload::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER que_job_notify AFTER INSERT ON public.que_jobs
  FOR EACH ROW
  WHEN (NOT coalesce(current_setting('que.skip_notify', true), '') = 'true')
  EXECUTE FUNCTION public.que_job_notify();

-- The state of a row, as que_state_notify reports it; the first that
-- applies wins.
CREATE FUNCTION public.que_determine_job_state(job public.que_jobs) RETURNS text
LANGUAGE sql AS $$
  SELECT CASE
    WHEN job.expired_at IS NOT NULL THEN 'expired'
    WHEN job.finished_at IS NOT NULL THEN 'finished'
    WHEN job.error_count > 0 THEN 'errored'
    WHEN job.run_at > CURRENT_TIMESTAMP THEN 'scheduled'
    ELSE 'ready'
  END
$$;

-- On every insert, delete and state-changing update: a job_change message
-- on que_state with the row's old and new states.
CREATE FUNCTION public.que_state_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  before_state text := 'nonexistent';
  after_state text := 'nonexistent';
  payload json;
BEGIN
  IF TG_OP = 'INSERT' THEN
    r := NEW;
    after_state := public.que_determine_job_state(NEW);
  ELSIF TG_OP = 'DELETE' THEN
    r := OLD;
    before_state := public.que_determine_job_state(OLD);
  ELSIF TG_OP = 'UPDATE' THEN
    r := NEW;
    before_state := public.que_determine_job_state(OLD);
    after_state := public.que_determine_job_state(NEW);
    IF before_state = after_state THEN
      RETURN NULL;
    END IF;
  ELSE
    RAISE EXCEPTION 'que_state_notify: unexpected TG_OP %', TG_OP;
  END IF;

  SELECT row_to_json(msg) INTO payload
  FROM (SELECT 'job_change' AS message_type, r.id AS id, r.queue AS queue,
    coalesce(r.data -> 'tags', '[]'::jsonb) AS tags,
    to_char(r.run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS run_at,
    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS time,
    CASE WHEN r.job_class = 'ActiveJob::QueueAdapters::QueAdapter::JobWrapper'
      THEN coalesce(r.args -> 0 ->> 'job_class', r.job_class)
      ELSE r.job_class END AS job_class,
    before_state AS previous_state, after_state AS current_state) AS msg;
  PERFORM pg_notify('que_state', payload::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER que_state_notify AFTER INSERT OR UPDATE OR DELETE ON public.que_jobs
  FOR EACH ROW
  WHEN (NOT coalesce(current_setting('que.skip_notify', true), '') = 'true')
  EXECUTE FUNCTION public.que_state_notify();

COMMENT ON TABLE public.que_jobs IS '7';
