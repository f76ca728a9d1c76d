package qg

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
)

// tableShape describes que_jobs's columns, primary key and comment.
func tableShape(t *testing.T, db *sql.DB) string {
	t.Helper()
	var shape string
	err := db.QueryRow(`SELECT string_agg(format('%s %s %s %s', column_name, data_type, is_nullable,
    coalesce(column_default, '-')), '; ' ORDER BY column_name)
  || ' | pk ' || (SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'que_jobs_pkey')
  || ' | comment ' || coalesce(obj_description('que_jobs'::regclass, 'pg_class'), '-')
FROM information_schema.columns WHERE table_name = 'que_jobs'`).Scan(&shape)
	if err != nil {
		t.Fatal(err)
	}
	return shape
}

// tableOID is que_jobs's oid, to tell a table left alone from a new one.
func tableOID(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	var oid int64
	if err := db.QueryRow(`SELECT 'que_jobs'::regclass::oid::bigint`).Scan(&oid); err != nil {
		t.Fatal(err)
	}
	return oid
}

// rubyQue0Tables is the table as Ruby Que 0.x's migrations 1 to 3 build it,
// each followed by Que's version comment.
const rubyQue0Table = `
CREATE TABLE que_jobs
(
  priority    integer     NOT NULL DEFAULT 1,
  run_at      timestamptz NOT NULL DEFAULT now(),
  job_id      bigserial   NOT NULL,
  job_class   text        NOT NULL,
  args        json        NOT NULL DEFAULT '[]'::json,
  error_count integer     NOT NULL DEFAULT 0,
  last_error  text,

  CONSTRAINT que_jobs_pkey PRIMARY KEY (priority, run_at, job_id)
);
COMMENT ON TABLE que_jobs IS '1';
ALTER TABLE que_jobs ALTER COLUMN priority SET DEFAULT 100;
COMMENT ON TABLE que_jobs IS '2';
ALTER TABLE que_jobs
  DROP CONSTRAINT que_jobs_pkey,
  ALTER COLUMN priority TYPE smallint,
  ADD COLUMN queue TEXT NOT NULL DEFAULT '',
  ADD CONSTRAINT que_jobs_pkey PRIMARY KEY (queue, priority, run_at, job_id);
COMMENT ON TABLE que_jobs IS '3';
`

// que2TableShape is the shape of Ruby Que 1.x/2.x's que_jobs, at schema version 7.
const que2TableShape = `
CREATE TABLE que_jobs (
  priority smallint DEFAULT 100 NOT NULL,
  run_at timestamptz DEFAULT now() NOT NULL,
  id bigserial PRIMARY KEY,
  job_class text NOT NULL,
  error_count integer DEFAULT 0 NOT NULL,
  last_error_message text,
  queue text DEFAULT 'default' NOT NULL,
  last_error_backtrace text,
  finished_at timestamptz,
  expired_at timestamptz,
  args jsonb DEFAULT '[]' NOT NULL,
  data jsonb DEFAULT '{}' NOT NULL,
  job_schema_version integer NOT NULL,
  kwargs jsonb DEFAULT '{}' NOT NULL
);
COMMENT ON TABLE que_jobs IS '7';
`

// TestSchemaMissingOrOtherVersion checks NewClient2, NewClient and
// Migrate on a database without que_jobs, with Ruby Que 0.x's own table, and
// with tables of other Que versions.
func TestSchemaMissingOrOtherVersion(t *testing.T) {
	db := scratchDB(t)
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		if _, err := db.Exec(sql); err != nil {
			t.Fatal(err)
		}
	}

	// Missing: both constructors say so; Migrate creates the table, twice.
	if _, err := NewClient2(db); !errors.Is(err, ErrNoTable) {
		t.Fatalf("NewClient2 without que_jobs: %v, want ErrNoTable", err)
	}
	if c := NewClient(db); c != nil {
		t.Fatal("NewClient without que_jobs returned a Client")
	}
	if err := Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	created := tableShape(t, db)
	oid := tableOID(t, db)
	if err := Migrate(ctx, db); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if tableShape(t, db) != created || tableOID(t, db) != oid {
		t.Fatal("second Migrate changed the table")
	}
	for _, want := range []string{"args json NO '[]'::json", "priority smallint NO 100", "queue text NO ''::text",
		"run_at timestamp with time zone NO now()", "last_error text YES -", "error_count integer NO 0",
		"PRIMARY KEY (queue, priority, run_at, job_id)", "comment 3"} {
		if !strings.Contains(created, want) {
			t.Fatalf("Migrate's table lacks %q:\n%s", want, created)
		}
	}
	roundTrip(t, db)

	// Ruby's own version 3 table: the same shape; Migrate leaves it alone.
	exec(`DROP TABLE que_jobs`)
	exec(rubyQue0Table)
	exec(`INSERT INTO que_jobs (job_class, args) VALUES ('SendEmail', '[1,"ruby"]')`)
	if ruby := tableShape(t, db); ruby != created {
		t.Fatalf("Ruby's table differs from Migrate's:\nruby: %s\nqg:   %s", ruby, created)
	}
	oid = tableOID(t, db)
	if err := Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate on Ruby's table: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM que_jobs WHERE job_class = 'SendEmail'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("Ruby's row: %d, %v", n, err)
	}
	if tableOID(t, db) != oid || tableShape(t, db) != created {
		t.Fatal("Migrate touched Ruby's table")
	}
	roundTrip(t, db)

	// Other versions: a clear error from NewClient2 and Migrate, table untouched.
	for _, tc := range []struct{ ddl, mention string }{
		{strings.ReplaceAll(que2TableShape, "'7'", "'4'"), "Que.migrate!(version: 7)"},
		{strings.ReplaceAll(que2TableShape, "'7'", "'6'"), "Ruby Que 1.x"},
		{strings.ReplaceAll(rubyQue0Table, "IS '3'", "IS '2'"), "2"},
		{strings.ReplaceAll(rubyQue0Table, "IS '3'", "IS NULL"), "no version comment"},
	} {
		exec(`DROP TABLE que_jobs`)
		exec(tc.ddl)
		shape, oid := tableShape(t, db), tableOID(t, db)
		_, err := NewClient2(db)
		if !errors.Is(err, ErrSchemaVersion) || !strings.Contains(err.Error(), tc.mention) {
			t.Fatalf("NewClient2: %v; want ErrSchemaVersion mentioning %q", err, tc.mention)
		}
		if c := NewClient(db); c != nil {
			t.Fatal("NewClient returned a Client")
		}
		err = Migrate(ctx, db)
		if !errors.Is(err, ErrSchemaVersion) || !strings.Contains(err.Error(), tc.mention) {
			t.Fatalf("Migrate: %v; want ErrSchemaVersion mentioning %q", err, tc.mention)
		}
		if tableShape(t, db) != shape || tableOID(t, db) != oid {
			t.Fatal("Migrate touched the table")
		}
	}
}

// roundTrip enqueues, locks and deletes a job on db's que_jobs.
func roundTrip(t *testing.T, db *sql.DB) {
	t.Helper()
	c, err := NewClient2(db)
	if err != nil {
		t.Fatalf("NewClient2: %v", err)
	}
	defer c.Close()
	if err := c.Enqueue(&Job{Type: "Go", Args: []byte(`[1]`), Priority: -1}); err != nil {
		t.Fatal(err)
	}
	j, err := c.LockJob("")
	if err != nil || j == nil {
		t.Fatalf("LockJob: %v, %v", j, err)
	}
	defer j.Done()
	if j.Type != "Go" || string(j.Args) != `[1]` {
		t.Fatalf("locked %+v", j)
	}
	if err := j.Delete(); err != nil {
		t.Fatal(err)
	}
}
