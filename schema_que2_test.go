package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgconn"
)

// The catalog MigrateQue2 leaves, compared with the facts of
// testdata/ruby-que-2.4.1/README.md ("The schema-7 tables"), which were read
// from a table Ruby's Que.migrate!(version: 7) made.

// catalogRows runs query on db and returns each row's columns joined by " | ".
func catalogRows(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = v.String
			if !v.Valid {
				parts[i] = "NULL"
			}
		}
		out = append(out, strings.Join(parts, " | "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantRows compares catalog rows with the expected ones, line by line.
func wantRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// columnsQuery lists a table's columns in order: name, type, NOT NULL, default.
const columnsQuery = `SELECT a.attname, format_type(a.atttypid, a.atttypmod),
  CASE WHEN a.attnotnull THEN 'NOT NULL' ELSE 'NULL' END, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute AS a LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

func TestQue2CatalogColumns(t *testing.T) {
	t.Parallel()
	db, _ := newQue2Database(t)
	wantRows(t, "que_jobs columns", catalogRows(t, db, columnsQuery, "public.que_jobs"), []string{
		"priority | smallint | NOT NULL | 100",
		"run_at | timestamp with time zone | NOT NULL | now()",
		"id | bigint | NOT NULL | nextval('que_jobs_id_seq'::regclass)",
		"job_class | text | NOT NULL | NULL",
		"error_count | integer | NOT NULL | 0",
		"last_error_message | text | NULL | NULL",
		"queue | text | NOT NULL | 'default'::text",
		"last_error_backtrace | text | NULL | NULL",
		"finished_at | timestamp with time zone | NULL | NULL",
		"expired_at | timestamp with time zone | NULL | NULL",
		"args | jsonb | NOT NULL | '[]'::jsonb",
		"data | jsonb | NOT NULL | '{}'::jsonb",
		"job_schema_version | integer | NOT NULL | NULL",
		"kwargs | jsonb | NOT NULL | '{}'::jsonb",
	})
	wantRows(t, "que_lockers columns", catalogRows(t, db, columnsQuery, "public.que_lockers"), []string{
		"pid | integer | NOT NULL | NULL",
		"worker_count | integer | NOT NULL | NULL",
		"worker_priorities | integer[] | NOT NULL | NULL",
		"ruby_pid | integer | NOT NULL | NULL",
		"ruby_hostname | text | NOT NULL | NULL",
		"queues | text[] | NOT NULL | NULL",
		"listening | boolean | NOT NULL | NULL",
		"job_schema_version | integer | NULL | 1",
	})
	wantRows(t, "que_values columns", catalogRows(t, db, columnsQuery, "public.que_values"), []string{
		"key | text | NOT NULL | NULL",
		"value | jsonb | NOT NULL | '{}'::jsonb",
	})
	// The tables: que_lockers is UNLOGGED, and the table comment is Que's
	// schema version.
	wantRows(t, "tables", catalogRows(t, db, `SELECT relname, relpersistence,
  coalesce(obj_description(oid, 'pg_class'), '-')
FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname LIKE 'que\_%' AND relkind = 'r'
ORDER BY relname`), []string{
		"que_jobs | p | 7",
		"que_lockers | u | -",
		"que_values | p | -",
	})
	// The id sequence: bigint, owned by que_jobs.id.
	wantRows(t, "id sequence", catalogRows(t, db, `SELECT pg_get_serial_sequence('public.que_jobs', 'id'),
  format_type(seqtypid, NULL) FROM pg_sequence WHERE seqrelid = 'public.que_jobs_id_seq'::regclass`),
		[]string{"public.que_jobs_id_seq | bigint"})
}

func TestQue2CatalogIndexesAndConstraints(t *testing.T) {
	t.Parallel()
	db, _ := newQue2Database(t)
	wantRows(t, "que_jobs indexes", catalogRows(t, db, `SELECT indexrelid::regclass::text,
  pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'public.que_jobs'::regclass
ORDER BY 1`), []string{
		"que_jobs_args_gin_idx | CREATE INDEX que_jobs_args_gin_idx ON public.que_jobs USING gin (args jsonb_path_ops)",
		"que_jobs_data_gin_idx | CREATE INDEX que_jobs_data_gin_idx ON public.que_jobs USING gin (data jsonb_path_ops)",
		"que_jobs_kwargs_gin_idx | CREATE INDEX que_jobs_kwargs_gin_idx ON public.que_jobs USING gin (kwargs jsonb_path_ops)",
		"que_jobs_pkey | CREATE UNIQUE INDEX que_jobs_pkey ON public.que_jobs USING btree (id)",
		"que_poll_idx | CREATE INDEX que_poll_idx ON public.que_jobs USING btree (job_schema_version, queue, priority, run_at, id) " +
			"WHERE ((finished_at IS NULL) AND (expired_at IS NULL))",
	})
	wantRows(t, "constraints", catalogRows(t, db, `SELECT conrelid::regclass::text, conname, contype
FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text LIKE 'que\_%' ORDER BY 1, 2`), []string{
		"que_jobs | error_length | c",
		"que_jobs | job_class_length | c",
		"que_jobs | que_jobs_pkey | p",
		"que_jobs | queue_length | c",
		"que_jobs | valid_args | c",
		"que_jobs | valid_data | c",
		"que_lockers | que_lockers_pkey | p",
		"que_lockers | valid_queues | c",
		"que_lockers | valid_worker_priorities | c",
		"que_values | que_values_pkey | p",
		"que_values | valid_value | c",
	})
	wantRows(t, "functions", catalogRows(t, db, `SELECT p.oid::regprocedure::text, format_type(p.prorettype, NULL)
FROM pg_proc AS p WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'que\_%' ORDER BY 1`), []string{
		"que_determine_job_state(que_jobs) | text",
		"que_job_notify() | trigger",
		"que_state_notify() | trigger",
		"que_validate_tags(jsonb) | boolean",
	})
	const skip = "WHEN ((NOT (COALESCE(current_setting('que.skip_notify'::text, true), ''::text) = 'true'::text))) "
	wantRows(t, "triggers", catalogRows(t, db, `SELECT tgname, pg_get_triggerdef(oid)
FROM pg_trigger WHERE tgrelid = 'public.que_jobs'::regclass AND NOT tgisinternal ORDER BY 1`), []string{
		"que_job_notify | CREATE TRIGGER que_job_notify AFTER INSERT ON public.que_jobs FOR EACH ROW " + skip +
			"EXECUTE FUNCTION que_job_notify()",
		"que_state_notify | CREATE TRIGGER que_state_notify AFTER INSERT OR DELETE OR UPDATE ON public.que_jobs FOR EACH ROW " + skip +
			"EXECUTE FUNCTION que_state_notify()",
	})
}

// que2Inserts gives, for each INSERT line of worked.jsonl, the columns that
// differ from a valid row (SQL expressions; "" leaves the column out).
var que2Inserts = map[string]map[string]string{
	"no job_schema_version":                   {"job_schema_version": ""},
	"args is an object":                       {"args": `'{"a": 1}'`},
	"args is a scalar":                        {"args": `'1'`},
	"args is JSON null":                       {"args": `'null'`},
	"args is SQL NULL":                        {"args": `NULL`},
	"data is an array":                        {"data": `'[]'`},
	"data.tags is a string":                   {"data": `'{"tags": "a"}'`},
	"data.tags has 6 tags":                    {"data": `'{"tags": ["a", "b", "c", "d", "e", "f"]}'`},
	"data.tags has 5 tags":                    {"data": `'{"tags": ["a", "b", "c", "d", "e"]}'`},
	"a tag of 98 chars":                       {"data": tagData(`repeat('x', 98)`)},
	"a tag of 99 chars":                       {"data": tagData(`repeat('x', 99)`)},
	"a tag of 97 chars with one double quote": {"data": tagData(`repeat('x', 96) || '"'`)},
	"a tag of 98 chars with one double quote": {"data": tagData(`repeat('x', 97) || '"'`)},
	"a tag of 98 chars, multibyte":            {"data": tagData(`repeat('é', 98)`)},
	"a tag of 101 chars":                      {"data": tagData(`repeat('x', 101)`)},
	"a tag of 100 chars":                      {"data": tagData(`repeat('x', 100)`)},
	"a tag that is a number":                  {"data": `'{"tags": [1]}'`},
	"kwargs is an array":                      {"kwargs": `'[]'`},
	"kwargs is SQL NULL":                      {"kwargs": `NULL`},
	"queue of 100 chars":                      {"queue": `repeat('q', 100)`},
	"queue of 101 chars":                      {"queue": `repeat('q', 101)`},
	"queue empty string":                      {"queue": `''`},
	"job_class of 200 chars":                  {"job_class": `repeat('J', 200)`},
	"job_class of 201 chars":                  {"job_class": `repeat('J', 201)`},
	"job_class empty string":                  {"job_class": `''`},
	"job_class SQL NULL":                      {"job_class": `NULL`},
	"priority -32768":                         {"priority": `-32768`},
	"priority 32768":                          {"priority": `32768`},
	"last_error_message of 501 chars":         {"last_error_message": `repeat('m', 501)`},
	"last_error_backtrace of 10001 chars":     {"last_error_backtrace": `repeat('b', 10001)`},
	"error_count -1":                          {"error_count": `-1`},
}

// tagData is a data object whose one tag is the text expression tag.
func tagData(tag string) string {
	return `jsonb_build_object('tags', jsonb_build_array(` + tag + `))`
}

// que2InsertSQL builds the INSERT of a valid row with the columns of change
// replaced, returning the row's queue, priority and error_count.
func que2InsertSQL(change map[string]string) string {
	cols := map[string]string{"job_class": `'SendEmail'`, "args": `'[]'`, "kwargs": `'{}'`,
		"data": `'{}'`, "job_schema_version": `2`}
	for k, v := range change {
		cols[k] = v
	}
	var names, values []string
	for k, v := range cols {
		if v != "" {
			names, values = append(names, k), append(values, v)
		}
	}
	return fmt.Sprintf(`INSERT INTO que_jobs (%s) VALUES (%s)
RETURNING queue, priority, error_count`, strings.Join(names, ", "), strings.Join(values, ", "))
}

func TestQue2CatalogChecksMatchGoldenInserts(t *testing.T) {
	t.Parallel()
	db, _ := newQue2Database(t)
	n := 0
	for _, g := range readGoldenFile[goldenWorked2](t, golden2Dir, "worked.jsonl") {
		if g.Insert == "" {
			continue
		}
		n++
		change, ok := que2Inserts[g.Insert]
		if !ok {
			t.Errorf("worked.jsonl INSERT %q has no case in this test", g.Insert)
			continue
		}
		var queue string
		var priority, errorCount int
		err := db.QueryRow(que2InsertSQL(change)).Scan(&queue, &priority, &errorCount)
		var pgErr *pgconn.PgError
		switch {
		case g.Accepted && err != nil:
			t.Errorf("%s: refused, Ruby's table accepted it: %v", g.Insert, err)
		case !g.Accepted && !errors.As(err, &pgErr):
			t.Errorf("%s: want SQLSTATE %s, got %v", g.Insert, g.SQLState, err)
		case !g.Accepted:
			if pgErr.Code != g.SQLState || pgErr.ConstraintName != g.Constraint || pgErr.ColumnName != g.Column {
				t.Errorf("%s: got %s constraint %q column %q, want %s constraint %q column %q", g.Insert,
					pgErr.Code, pgErr.ConstraintName, pgErr.ColumnName, g.SQLState, g.Constraint, g.Column)
			}
		default:
			if want := storedQueue(g.StoredQueue); g.StoredQueue != "" && queue != want {
				t.Errorf("%s: stored queue %q, want %q", g.Insert, queue, want)
			}
			if g.StoredPriority != nil && priority != *g.StoredPriority {
				t.Errorf("%s: stored priority %d, want %d", g.Insert, priority, *g.StoredPriority)
			}
			if g.StoredErrorCount != nil && errorCount != *g.StoredErrorCount {
				t.Errorf("%s: stored error_count %d, want %d", g.Insert, errorCount, *g.StoredErrorCount)
			}
		}
	}
	if n != len(que2Inserts) {
		t.Errorf("worked.jsonl has %d INSERT lines, this test %d cases", n, len(que2Inserts))
	}
}

// storedQueue reads the stored_queue of an INSERT line ("<100 chars>" stands
// for the 100-character queue of its INSERT).
func storedQueue(s string) string {
	if s == "<100 chars>" {
		return strings.Repeat("q", 100)
	}
	return s
}

// TestQue2CatalogLockersChecks exercises que_lockers' checks: one dimension,
// at least one element, {NULL} allowed.
func TestQue2CatalogLockersChecks(t *testing.T) {
	t.Parallel()
	db, _ := newQue2Database(t)
	cases := []struct {
		priorities, queues, constraint string
	}{
		{`'{NULL}'`, `'{default}'`, ""},
		{`'{10,NULL}'`, `'{default,other}'`, ""},
		{`'{}'`, `'{default}'`, "valid_worker_priorities"},
		{`'{{1},{2}}'`, `'{default}'`, "valid_worker_priorities"},
		{`'{NULL}'`, `'{}'`, "valid_queues"},
		{`'{NULL}'`, `'{{a},{b}}'`, "valid_queues"},
	}
	for i, c := range cases {
		_, err := db.ExecContext(context.Background(), fmt.Sprintf(`INSERT INTO que_lockers
  (pid, worker_count, worker_priorities, ruby_pid, ruby_hostname, queues, listening)
VALUES (%d, 1, %s, 1, 'test', %s, false)`, 1000+i, c.priorities, c.queues))
		var pgErr *pgconn.PgError
		got := ""
		if errors.As(err, &pgErr) {
			got = pgErr.ConstraintName
		} else if err != nil {
			t.Fatal(err)
		}
		if got != c.constraint {
			t.Errorf("que_lockers %s / %s: constraint %q, want %q", c.priorities, c.queues, got, c.constraint)
		}
	}
	_, err := db.Exec(`INSERT INTO que_values (key, value) VALUES ('a', '[]')`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.ConstraintName != "valid_value" {
		t.Errorf("que_values with an array value: %v, want valid_value", err)
	}
}

// TestQue2MigrateLeavesTablesAlone checks that MigrateQue2 is idempotent,
// refuses a Que 0.x table, and that Migrate leaves a Que 2 table alone.
func TestQue2MigrateLeavesTablesAlone(t *testing.T) {
	t.Parallel()
	db, _ := newQue2Database(t)
	if _, err := db.Exec(`INSERT INTO que_jobs (job_class, job_schema_version) VALUES ('Kept', 2)`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := MigrateQue2(ctx, db); err != nil {
		t.Fatalf("second MigrateQue2: %v", err)
	}
	if err := MigrateQue2(ctx, testDB); !errors.Is(err, ErrSchemaVersion) {
		t.Errorf("MigrateQue2 on the 0.x test table: %v, want ErrSchemaVersion", err)
	}
	var kept []string
	kept = append(kept, catalogRows(t, db, `SELECT job_class FROM que_jobs`)...)
	sort.Strings(kept)
	if strings.Join(kept, ",") != "Kept" {
		t.Errorf("rows after a second MigrateQue2: %v", kept)
	}
}
