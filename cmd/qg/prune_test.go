package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// archiveJobs adds n rows to qg_jobs_archive, of class, finished ago (an
// SQL interval) ago.
func archiveJobs(t *testing.T, class, ago string, n int) {
	t.Helper()
	_, err := testDB.Exec(`INSERT INTO qg_jobs_archive (priority, run_at, job_id, job_class, args,
  error_count, queue, finished_at, outcome)
SELECT 100, now(), -i, $1, '[]', 0, '', now() - $2::interval, 'worked' FROM generate_series(1, $3) AS i`,
		class, ago, n)
	if err != nil {
		t.Fatal(err)
	}
}

// archived counts the rows of class in qg_jobs_archive.
func archived(t *testing.T, class string) int {
	t.Helper()
	var n int
	if err := testDB.QueryRow(`SELECT count(*) FROM qg_jobs_archive WHERE job_class = $1`, class).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPrune is the only test that writes qg_jobs_archive, so it empties it
// and counts every row prune deletes.
func TestPrune(t *testing.T) {
	if _, err := testDB.Exec(`DELETE FROM qg_jobs_archive`); err != nil {
		t.Fatal(err)
	}
	class := testQueue(t)
	archiveJobs(t, class, "3 days", 5)
	archiveJobs(t, class, "2 hours", 3)
	archiveJobs(t, class, "1 minute", 2)

	r := qgRun(t, "prune", "--older-than", "2d", "--batch", "2")
	r.want(t, exitOK, "the archive is not enabled", "qg enable archive")
	if !strings.Contains(r.stdout, "deleted 5 archived jobs finished more than 48h0m0s ago") {
		t.Errorf("prune says %q", r.stdout)
	}
	if n := archived(t, class); n != 5 {
		t.Errorf("%d rows left, want 5", n)
	}

	r = qgRun(t, "prune", "--json", "--older-than", "1h")
	r.want(t, exitOK)
	var got pruneResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v in %q", err, r.stdout)
	}
	if want := (pruneResult{Deleted: 3, OlderThan: "1h0m0s", OlderThanSeconds: 3600, Batch: 1000}); got != want {
		t.Errorf("prune --json = %+v, want %+v", got, want)
	}
	if n := archived(t, class); n != 2 {
		t.Errorf("%d rows left, want 2", n)
	}
}

func TestPruneMissingArchive(t *testing.T) {
	t.Parallel()
	schema, dbURL := newSchema(t)
	if _, err := testDB.Exec(`CREATE TABLE ` + schema + `.que_jobs (LIKE public.que_jobs INCLUDING ALL);
COMMENT ON TABLE ` + schema + `.que_jobs IS '3'`); err != nil {
		t.Fatal(err)
	}
	r := qgEnv(t, nil, "prune", "--older-than", "1h", "--database-url", dbURL)
	r.want(t, exitRuntime, "qg_jobs_archive does not exist", "run 'qg migrate'")
}
