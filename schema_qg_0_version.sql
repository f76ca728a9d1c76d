-- qg's own bookkeeping, beside que_jobs (which qg never alters): the
-- version of qg's side tables, for later migrations.
CREATE TABLE IF NOT EXISTS qg_schema (
  version integer NOT NULL
);
INSERT INTO qg_schema (version) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM qg_schema);
