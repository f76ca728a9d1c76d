package qg

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"testing"
	"time"
)

// appRole creates a login role granted only what a Ruby Que application
// needs on que_jobs (and its sequence), as an operator sets one up, and
// returns a pool that connects as it. The role is dropped after the test.
func appRole(t *testing.T) *sql.DB {
	t.Helper()
	var dbName string
	if err := testDB.QueryRow(`SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	role := fmt.Sprintf("%s_app_%d", dbName, time.Now().UnixNano()%1e9)
	for _, stmt := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT USAGE ON SCHEMA public TO ` + role,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON que_jobs TO ` + role,
		`GRANT USAGE ON SEQUENCE que_jobs_job_id_seq TO ` + role,
	} {
		if _, err := testDB.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(testURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		for _, stmt := range []string{`DROP OWNED BY ` + role, `DROP ROLE ` + role} {
			if _, err := testDB.Exec(stmt); err != nil {
				t.Error(err)
			}
		}
	})
	return db
}

// TestTriggersForAnotherRole: with unique jobs and the archive enabled, a
// role granted only que_jobs (a Ruby application's) deletes jobs, gives one
// up and truncates nothing it may not: every statement succeeds, the keys
// are freed and the jobs archived, though the role has no right on qg's
// side tables. Not parallel: the archive trigger is the database's.
func TestTriggersForAnotherRole(t *testing.T) {
	c, q := uqSetup(t)
	arEnable(t)
	app := appRole(t)
	ctx := context.Background()
	worked := uqEnqueue(t, c, &Job{Queue: q, Type: "Ruby", Args: []byte(`[1]`), Unique: true})
	buried := uqEnqueue(t, c, &Job{Queue: q, Type: "Ruby", Args: []byte(`[2]`), Unique: true})
	if _, err := app.ExecContext(ctx, `DELETE FROM que_jobs WHERE job_id = $1`, worked.ID); err != nil {
		t.Fatalf("the application's role deletes a unique job: %v", err)
	}
	if _, err := app.ExecContext(ctx, `UPDATE que_jobs SET queue = 'qg:dead:' || queue WHERE job_id = $1`, buried.ID); err != nil {
		t.Fatalf("the application's role gives a unique job up: %v", err)
	}
	if _, err := app.ExecContext(ctx, `DELETE FROM que_jobs WHERE job_id = $1`, buried.ID); err != nil {
		t.Fatalf("the application's role deletes a given-up job: %v", err)
	}
	for _, args := range []string{`[1]`, `[2]`} {
		j := uqEnqueue(t, c, &Job{Queue: q, Type: "Ruby", Args: []byte(args), Unique: true})
		uqWant(t, j, 0, worked.ID, buried.ID)
	}
	if r := arOne(t, worked.ID); r.outcome != OutcomeDeleted || r.args != `[1]` {
		t.Errorf("archived %+v", r)
	}
	var created bool
	if err := app.QueryRowContext(ctx, `SELECT has_table_privilege('qg_unique', 'SELECT')`).Scan(&created); err != nil || created {
		t.Errorf("the role may read qg_unique (%v, %v): the test proves nothing", created, err)
	}
}
