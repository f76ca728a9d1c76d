package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v4/stdlib" // the "pgx" driver

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/internal/pgtest"
)

// unreachableURL names a port where no server listens.
const unreachableURL = "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5"

var (
	testURL string  // the URL of this run's database
	testDB  *sql.DB // a pool on it
)

// TestMain creates a fresh, migrated database for the run and drops it
// after the tests, failing the run when any advisory lock is left in it.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dbURL, drop, err := pgtest.CreateDatabase(pgtest.AdminURL(), pgtest.Name("qg_cmd_test"))
	if err != nil {
		fmt.Fprint(os.Stderr, pgtest.Unreachable(err, "make db                (from the repository root: starts a local or Docker PostgreSQL)"))
		return 1
	}
	defer drop()
	testURL = dbURL
	if testDB, err = sql.Open("pgx", dbURL); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testDB.Close()
	if err := qg.Migrate(context.Background(), testDB); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if n := advisoryLocks(); n != 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d advisory locks left in the test database\n", n)
		return 1
	}
	return code
}

// advisoryLocks counts the advisory locks held in the test database.
func advisoryLocks() int {
	var n int
	err := testDB.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
	if err != nil {
		return -1
	}
	return n
}

// result is what one run of the command did.
type result struct {
	code           int
	stdout, stderr string
}

// qgEnv runs qg with args and the environment vars, and returns its exit
// code and output.
func qgEnv(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr, func(k string) string { return vars[k] })
	return result{code, stdout.String(), stderr.String()}
}

// qgRun runs qg with args on the test database (through DATABASE_URL).
func qgRun(t *testing.T, args ...string) result {
	t.Helper()
	return qgEnv(t, map[string]string{"DATABASE_URL": testURL}, args...)
}

// want fails the test when r did not exit with code or when its stderr
// lacks any of the texts.
func (r result) want(t *testing.T, code int, stderrHas ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stderrHas {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// names counts the names testQueue gave, so that each call's is new, even
// when go test -count runs a test again on the same database.
var names atomic.Int64

// testQueue names a queue (or schema, or job class) of the test's own.
func testQueue(t *testing.T) string {
	return fmt.Sprintf("cmd_%s_%d", unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_"), names.Add(1))
}

// withParam returns rawURL with the query parameter key set to value.
func withParam(t *testing.T, rawURL, key, value string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// newSchema creates an empty schema of the test's own and returns the URL
// of the test database with only that schema on its search_path.
func newSchema(t *testing.T) (name, dbURL string) {
	t.Helper()
	name = testQueue(t)
	if _, err := testDB.Exec(`CREATE SCHEMA ` + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = testDB.Exec(`DROP SCHEMA ` + name + ` CASCADE`) })
	return name, withParam(t, testURL, "search_path", name)
}
