package web

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/internal/pgtest"
)

// testDB is a pool on the database created for this test run (a Que 0.x
// table), que2DB one on its Ruby Que 2.x twin (schema 7).
var testDB, que2DB *sql.DB

// TestMain creates fresh databases for the run, one of each table
// generation, migrates them, runs the tests and drops them.
func TestMain(m *testing.M) {
	db, _, drop, err := pgtest.OpenMigrated("qg_web_test2", qg.MigrateQue2)
	if err != nil {
		fmt.Fprint(os.Stderr, pgtest.Unreachable(err, "make test"))
		os.Exit(1)
	}
	que2DB = db
	code := pgtest.RunMigrated(m, "qg_web_test", qg.Migrate, &testDB)
	drop()
	os.Exit(code)
}

var queueUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_]+`)

// testQueue names a queue of the test's own.
func testQueue(t *testing.T) string {
	return "web_" + strings.ToLower(queueUnsafe.ReplaceAllString(t.Name(), "_"))
}

// setup returns a Client on the test database, a server of a handler with
// cfg mounted under /admin/qg, and the test's queue.
func setup(t *testing.T, cfg Config) (*qg.Client, *httptest.Server, string) {
	t.Helper()
	return setupOn(t, testDB, cfg)
}

// setup2 is setup on the Que 2.x database.
func setup2(t *testing.T, cfg Config) (*qg.Client, *httptest.Server, string) {
	t.Helper()
	return setupOn(t, que2DB, cfg)
}

// setupOn is setup on db. It first removes what an earlier run of the test
// (go test -count=N shares the database) left in the test's queues: every
// queue whose name contains the test's, and its pause.
func setupOn(t *testing.T, db *sql.DB, cfg Config) (*qg.Client, *httptest.Server, string) {
	t.Helper()
	queue := testQueue(t)
	if _, err := db.Exec(`DELETE FROM que_jobs WHERE position($1 in queue) > 0`, queue); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM qg_paused_queues WHERE position($1 in queue) > 0`, queue); err != nil {
		t.Fatal(err)
	}
	c, err := qg.NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h, err := New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/qg/", http.StripPrefix("/admin/qg", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return c, srv, queue
}

// enqueue enqueues j and fails the test when it cannot.
func enqueue(t *testing.T, c *qg.Client, j *qg.Job) *qg.Job {
	t.Helper()
	if err := c.Enqueue(j); err != nil {
		t.Fatal(err)
	}
	return j
}

// get fetches path of srv and returns the status and body.
func get(t *testing.T, client *http.Client, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	if client == nil {
		client = srv.Client()
	}
	res, err := client.Get(srv.URL + "/admin/qg" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// jobRow reads back a job's run_at in the past (runnable) and queue.
func jobRow(t *testing.T, id int64) (queue string, runnable bool) {
	t.Helper()
	err := testDB.QueryRow(`SELECT queue, run_at <= now() FROM que_jobs WHERE job_id = $1`, id).Scan(&queue, &runnable)
	if err != nil {
		t.Fatalf("job %d: %v", id, err)
	}
	return queue, runnable
}

// q is a query string.
func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}
