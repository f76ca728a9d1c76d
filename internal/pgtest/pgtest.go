// Package pgtest gives qg's test suites a PostgreSQL database of their own:
// each test binary creates a fresh database on the server of
// QG_TEST_DATABASE_URL and drops it at the end.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"time"

	_ "github.com/jackc/pgx/v4/stdlib" // the "pgx" driver
)

// DefaultURL is the server used when QG_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the server the tests create their databases on:
// QG_TEST_DATABASE_URL, else DefaultURL. Its user must be allowed to create
// databases.
func AdminURL() string {
	if u := os.Getenv("QG_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Name is a database name unique to this process and moment, with prefix.
func Name(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6)
}

// CreateDatabase creates database name on the server of adminURL and returns
// its URL and a function that drops it (ending its sessions).
func CreateDatabase(adminURL, name string) (string, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("parse the database URL: %w", err)
	}
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return "", nil, err
	}
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("cannot reach %s: %w", u.Redacted(), err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// Unreachable is the message a test binary prints when it cannot create its
// database: what failed and how to start a server. makeHint is the make
// command that starts one from the package's directory.
func Unreachable(err error, makeHint string) string {
	return fmt.Sprintf("FAIL: qg's tests need PostgreSQL: %v\n\n"+
		"Set QG_TEST_DATABASE_URL to a server where the user may create databases\n"+
		"(default %s), or start a local one:\n"+
		"  %s\n"+
		"  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"+
		"  docker compose up --wait\n", err, DefaultURL, makeHint)
}
