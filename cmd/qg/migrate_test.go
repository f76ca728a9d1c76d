package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// tableIn reports whether schema holds a table called name.
func tableIn(t *testing.T, schema, name string) bool {
	t.Helper()
	var ok bool
	if err := testDB.QueryRow(`SELECT to_regclass($1) IS NOT NULL`, schema+"."+name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	schema, dbURL := newSchema(t)
	r := qgEnv(t, map[string]string{"DATABASE_URL": dbURL}, "migrate")
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, "created que_jobs") {
		t.Errorf("first migrate says %q", r.stdout)
	}
	for _, table := range []string{"que_jobs", "qg_jobs_archive"} {
		if !tableIn(t, schema, table) {
			t.Errorf("migrate did not create %s", table)
		}
	}
	r = qgEnv(t, map[string]string{"DATABASE_URL": dbURL}, "migrate")
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, "was there already") {
		t.Errorf("second migrate says %q", r.stdout)
	}
}

func TestMigrateJSON(t *testing.T) {
	t.Parallel()
	_, dbURL := newSchema(t)
	for _, created := range []bool{true, false} {
		r := qgEnv(t, nil, "migrate", "--json", "--database-url", dbURL)
		r.want(t, exitOK)
		var got migrateResult
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("%v in %q", err, r.stdout)
		}
		if want := (migrateResult{Migrated: true, Created: created}); got != want {
			t.Errorf("migrate --json = %+v, want %+v", got, want)
		}
	}
}

// TestStatsEmpty runs stats on a freshly migrated, empty table.
func TestStatsEmpty(t *testing.T) {
	t.Parallel()
	_, dbURL := newSchema(t)
	qgEnv(t, nil, "migrate", "--database-url", dbURL).want(t, exitOK)
	r := qgEnv(t, nil, "stats", "--database-url", dbURL)
	r.want(t, exitOK)
	for _, s := range []string{"que_jobs is empty.", "No job is being worked."} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stats lacks %q:\n%s", s, r.stdout)
		}
	}
	r = qgEnv(t, nil, "stats", "--json", "--database-url", dbURL)
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, `"queues": []`) || !strings.Contains(r.stdout, `"working": []`) {
		t.Errorf("stats --json on an empty table:\n%s", r.stdout)
	}
}
