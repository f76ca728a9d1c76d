-- Periodic jobs (qg.Scheduler): one row per schedule name, holding the
-- latest tick claimed. A Scheduler claims a tick by moving last_tick forward
-- in the transaction that enqueues the tick's job, so each tick is enqueued
-- once however many Schedulers run.
CREATE TABLE IF NOT EXISTS qg_periodic (
  name text PRIMARY KEY,
  last_tick timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
