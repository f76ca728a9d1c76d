package main

import (
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/qg-go/qg/internal/pgtest"
)

// TestQue2Table runs migrate --que 2, stats and retry on a database of its
// own whose que_jobs is the Ruby Que 2.x table.
func TestQue2Table(t *testing.T) {
	t.Parallel()
	url, drop, err := pgtest.CreateDatabase(pgtest.AdminURL(), pgtest.Name("qg_cli_que2"))
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	run := func(args ...string) result {
		t.Helper()
		return qgEnv(t, map[string]string{"DATABASE_URL": url}, args...)
	}
	run("migrate", "--que", "3").want(t, exitUsage, "--que must be 0 or 2")
	run("migrate", "--que", "2").want(t, exitOK)
	run("migrate").want(t, exitOK) // leaves the Que 2.x table alone
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var comment string
	if err := db.QueryRow(`SELECT obj_description('public.que_jobs'::regclass, 'pg_class')`).Scan(&comment); err != nil || comment != "7" {
		t.Fatalf("que_jobs comment %q, %v", comment, err)
	}
	var expired int64
	err = db.QueryRow(`INSERT INTO que_jobs (job_class, error_count, expired_at, job_schema_version, last_error_message)
VALUES ('ChargeCard', 16, now(), 2, 'boom') RETURNING id`).Scan(&expired)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO que_jobs (job_class, job_schema_version) VALUES ('Old', 1), ('SendEmail', 2)`); err != nil {
		t.Fatal(err)
	}
	r := run("stats", "--json")
	r.want(t, exitOK)
	var stats struct {
		Queues []struct {
			Queue    string `json:"queue"`
			JobClass string `json:"job_class"`
			Count    int    `json:"count"`
		} `json:"queues"`
		Table *struct {
			Expired, OtherVersion, OtherVersionReady int
		} `json:"table"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &stats); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, r.stdout)
	}
	if len(stats.Queues) != 1 || stats.Queues[0].JobClass != "SendEmail" || stats.Table == nil ||
		stats.Table.Expired != 1 || stats.Table.OtherVersion != 1 || stats.Table.OtherVersionReady != 1 {
		t.Errorf("stats --json: %s", r.stdout)
	}
	r = run("stats")
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, "1 job expired") || !strings.Contains(r.stdout, "1 job of another job_schema_version") {
		t.Errorf("stats:\n%s", r.stdout)
	}
	r = run("retry", "--id", strconv.FormatInt(expired, 10))
	r.want(t, exitOK)
	var stillExpired bool
	var count int
	if err := db.QueryRow(`SELECT expired_at IS NOT NULL, error_count FROM que_jobs WHERE id = $1`, expired).Scan(&stillExpired, &count); err != nil {
		t.Fatal(err)
	}
	if stillExpired || count != 16 {
		t.Errorf("after retry: expired %v, error_count %d; want runnable, count kept", stillExpired, count)
	}
}
