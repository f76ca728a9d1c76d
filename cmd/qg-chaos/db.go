package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	_ "github.com/jackc/pgx/v4/stdlib" // the "pgx" database/sql driver qg needs
)

// attemptTimeout bounds one attempt of a statement retried by retry.
const attemptTimeout = 10 * time.Second

// retryPause is the pause between two attempts of retry.
const retryPause = 100 * time.Millisecond

// openDB opens a database/sql pool on rawURL with the pgx stdlib driver. Its
// sessions carry appName as application_name, so they can be told apart in
// pg_stat_activity. The pool keeps up to maxConns connections, idle ones
// included.
func openDB(rawURL, appName string, maxConns int) (*sql.DB, error) {
	u, err := withParam(rawURL, "application_name", appName)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redact(rawURL), err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	return db, nil
}

// withParam returns rawURL with the query parameter key set to value.
func withParam(rawURL, key, value string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// withDatabase returns rawURL naming the database name instead.
func withDatabase(rawURL, name string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// redact hides a password in a URL, for messages.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "the database URL"
	}
	return u.Redacted()
}

// retry runs f until it succeeds, ctx ends or patience has passed, and
// returns f's last error. Each attempt gets attemptTimeout. It is how every
// statement of the command survives a terminated session or a restarting
// server: database/sql replaces broken connections, the next attempt gets a
// fresh one.
func retry(ctx context.Context, patience time.Duration, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(patience)
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		if !sleepCtx(ctx, retryPause) {
			return err
		}
	}
}

// sleepCtx waits d, or less when ctx ends; it reports whether it waited all
// of d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
