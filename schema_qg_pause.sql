-- qg's paused queues: a queue named here is not worked by qg's workers
-- (Ruby Que's workers do not read it). Created by qg.Migrate; idempotent.
CREATE TABLE IF NOT EXISTS qg_paused_queues (
  queue text PRIMARY KEY,
  paused_at timestamptz NOT NULL DEFAULT now()
);
