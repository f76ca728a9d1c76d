package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v4"
	_ "github.com/jackc/pgx/v4/stdlib" // the "pgx" database/sql driver
)

// server is an administrative connection to the PostgreSQL server the
// benchmark runs on: it creates and drops the scratch databases and runs
// CHECKPOINT between measurements.
type server struct {
	baseURL *url.URL
	db      *sql.DB
}

// openServer connects to the server at rawURL, which must be a URL
// (postgres://...), since the scratch databases' URLs are derived from it.
func openServer(ctx context.Context, rawURL string) (*server, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("database URL %q: want postgres://user@host:port/db", rawURL)
	}
	db, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", u.Redacted(), err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to %s (is PostgreSQL running?): %w", u.Redacted(), err)
	}
	return &server{baseURL: u, db: db}, nil
}

// close closes the administrative connection.
func (s *server) close() { _ = s.db.Close() }

// createDatabase (re)creates the scratch database name and returns its URL.
// A leftover of an interrupted run is dropped first.
func (s *server) createDatabase(ctx context.Context, name string) (string, error) {
	if err := s.dropDatabase(ctx, name); err != nil {
		return "", err
	}
	if _, err := s.db.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	u := *s.baseURL
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// setSynchronousCommit makes value the synchronous_commit of every new
// session on database name (value is checked by the flag parser).
func (s *server) setSynchronousCommit(ctx context.Context, name, value string) error {
	query := "ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " SET synchronous_commit = " + value
	if _, err := s.db.ExecContext(ctx, query); err != nil {
		return fmt.Errorf("set synchronous_commit on %s: %w", name, err)
	}
	return nil
}

// dropDatabase drops the scratch database name if it exists, ending the
// sessions still connected to it (PostgreSQL 13 and later).
func (s *server) dropDatabase(ctx context.Context, name string) error {
	ident := pgx.Identifier{name}.Sanitize()
	_, err := s.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	if err != nil && strings.Contains(err.Error(), "syntax error") {
		_, err = s.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident)
	}
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// checkpoint flushes dirty buffers, so each measurement starts from the same
// state instead of paying for the previous one's writes.
func (s *server) checkpoint(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// version is the server's version string, e.g. "15.20 (Debian ...)".
func (s *server) version(ctx context.Context) (string, error) {
	var v string
	if err := s.db.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", fmt.Errorf("server version: %w", err)
	}
	return v, nil
}

// scratchName is the scratch database of the system labelled label.
func scratchName(label string) string {
	return "qg_bench_" + strings.ReplaceAll(label, " ", "_")
}
