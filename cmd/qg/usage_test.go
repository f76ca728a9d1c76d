package main

import (
	"strings"
	"testing"
	"time"
)

// everyCommand is each subcommand with flags valid enough to reach the
// database.
var everyCommand = [][]string{
	{"migrate"},
	{"stats"},
	{"enqueue", "--type", "SendEmail"},
	{"retry", "--id", "1"},
	{"prune", "--older-than", "30d"},
	{"jobs"},
	{"job", "1"},
	{"delete", "1"},
	{"enable", "notify"},
	{"snooze", "1", "--for", "1h"},
	{"cancel", "1"},
	{"pause", "q"},
	{"resume", "q"},
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		r := qgEnv(t, nil, args...)
		r.want(t, exitOK)
		for _, s := range []string{"migrate", "stats", "enqueue", "retry", "prune",
			"--database-url", "DATABASE_URL", "--json", "Exit codes:", "0  success",
			"1  runtime error", "2  usage error"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("qg %v: usage lacks %q:\n%s", args, s, r.stdout)
			}
		}
	}
}

func TestCommandHelp(t *testing.T) {
	t.Parallel()
	for _, args := range everyCommand {
		name := args[0]
		for _, call := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			r := qgEnv(t, nil, call...)
			r.want(t, exitOK)
			for _, s := range []string{"Usage: qg " + name, "--database-url URL", "--json", "Exit codes:"} {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("qg %v: usage lacks %q:\n%s", call, s, r.stdout)
				}
			}
		}
	}
}

// TestUsageErrors checks that every mistake of the caller exits with 2 and
// says what is wrong, before any connection: the database URL names a port
// where no server listens.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		says string
	}{
		{nil, "Usage:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"stats", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"stats", "extra"}, `unexpected argument "extra"`},
		{[]string{"enqueue"}, "--type is required"},
		{[]string{"enqueue", "--type", "X", "--args", "[1,"}, "--args is not valid JSON"},
		{[]string{"enqueue", "--type", "X", "--args", ""}, "--args is not valid JSON"},
		{[]string{"enqueue", "--type", "X", "--run-at", "tomorrow"}, `bad --run-at "tomorrow"`},
		{[]string{"enqueue", "--type", "X", "--run-at", "2030-01-02"}, `bad --run-at`},
		{[]string{"enqueue", "--type", "X", "--priority", "0"}, "--priority 0"},
		{[]string{"enqueue", "--type", "X", "--priority", "40000"}, "--priority 40000"},
		{[]string{"enqueue", "--type", "X", "--priority", "high"}, `invalid value "high" for flag -priority`},
		{[]string{"retry"}, "give either --id or --queue"},
		{[]string{"retry", "--id", "1", "--queue", "q"}, "give either --id or --queue"},
		{[]string{"retry", "--id", "1", "--failing"}, "--failing goes with --queue"},
		{[]string{"retry", "--queue", "qg:dead:q", "--failing"}, "--failing takes a live queue"},
		{[]string{"retry", "--id", "x"}, `invalid value "x" for flag -id`},
		{[]string{"prune"}, "--older-than is required"},
		{[]string{"prune", "--older-than", "soon"}, `bad duration "soon"`},
		{[]string{"prune", "--older-than", "-5m"}, "want a positive duration"},
		{[]string{"prune", "--older-than", "1h", "--batch", "0"}, "--batch 0"},
	}
	for _, c := range cases {
		r := qgEnv(t, map[string]string{"DATABASE_URL": unreachableURL}, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.says) {
			t.Errorf("qg %q: exit %d, stderr %q; want exit 2 saying %q", c.args, r.code, r.stderr, c.says)
		}
		if r.stdout != "" {
			t.Errorf("qg %q: wrote to stdout on a usage error: %q", c.args, r.stdout)
		}
	}
}

func TestNoDatabaseURL(t *testing.T) {
	t.Parallel()
	for _, args := range everyCommand {
		r := qgEnv(t, map[string]string{}, args...)
		r.want(t, exitUsage, "give --database-url or set DATABASE_URL")
	}
}

func TestBadDatabaseURL(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"postgres://postgres:s3cret@127.0.0.1:notaport/db",
		"postgres://postgres:s3cret@[::1/db",
		"postgres://127.0.0.1:99999/db",
		"not a url",
	} {
		for _, args := range everyCommand {
			r := qgEnv(t, nil, append(args, "--database-url", bad)...)
			r.want(t, exitUsage, "bad database URL")
			if strings.Contains(r.stderr, "s3cret") {
				t.Errorf("qg %v: the error shows the password: %s", args, r.stderr)
			}
		}
	}
}

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	for _, args := range everyCommand {
		start := time.Now()
		r := qgEnv(t, nil, append(args, "--json", "--database-url", unreachableURL)...)
		r.want(t, exitRuntime, "cannot reach PostgreSQL at 127.0.0.1:1", "Start it", "pg_ctlcluster")
		if r.stdout != "" {
			t.Errorf("qg %v: wrote to stdout on an error: %q", args, r.stdout)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("qg %v took %v to give up", args, d)
		}
	}
}

func TestServerRefuses(t *testing.T) {
	t.Parallel()
	noDB := strings.Replace(testURL, "/qg_cmd_test_", "/qg_cmd_nonexistent_", 1)
	r := qgEnv(t, nil, "stats", "--database-url", noDB)
	r.want(t, exitRuntime, "refused the connection", "does not exist")
}

// TestFlagBeatsEnv checks that --database-url wins over DATABASE_URL.
func TestFlagBeatsEnv(t *testing.T) {
	t.Parallel()
	r := qgEnv(t, map[string]string{"DATABASE_URL": unreachableURL}, "stats", "--database-url", testURL)
	r.want(t, exitOK)
}

func TestMissingTable(t *testing.T) {
	t.Parallel()
	_, empty := newSchema(t)
	for _, args := range everyCommand[1:] { // migrate would create it
		r := qgEnv(t, nil, append(args, "--database-url", empty)...)
		r.want(t, exitRuntime, "does not exist", "run 'qg migrate'")
	}
}

func TestForeignTableVersion(t *testing.T) {
	t.Parallel()
	schema, dbURL := newSchema(t)
	if _, err := testDB.Exec(`CREATE TABLE ` + schema + `.que_jobs (id bigserial PRIMARY KEY);
COMMENT ON TABLE ` + schema + `.que_jobs IS '4'`); err != nil {
		t.Fatal(err)
	}
	for _, args := range everyCommand[:4] {
		r := qgEnv(t, nil, append(args, "--database-url", dbURL)...)
		r.want(t, exitRuntime, "unsupported que_jobs schema version", "version 4 (Ruby Que 1.x)")
		if strings.Contains(r.stderr, "new client") {
			t.Errorf("qg %v: the library's wrapping shows: %s", args, r.stderr)
		}
	}
}
