package main

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	pgconn4 "github.com/jackc/pgconn"
	pgconn5 "github.com/jackc/pgx/v5/pgconn"
)

// measureAttempts is how often a measurement is tried when it fails because
// the server went away (a shared machine's tests may restart PostgreSQL or
// terminate sessions under the benchmark).
const measureAttempts = 3

// connectionLost reports whether err says the connection to the server was
// lost or refused, rather than that the benchmark is wrong.
func connectionLost(err error) bool {
	var pg4 *pgconn4.PgError
	if errors.As(err, &pg4) {
		return lostCode(pg4.Code)
	}
	var pg5 *pgconn5.PgError
	if errors.As(err, &pg5) {
		return lostCode(pg5.Code)
	}
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "conn closed")
}

// lostCode reports whether a SQLSTATE is a connection exception (class 08)
// or an operator intervention (class 57: a terminated session, a shutdown).
func lostCode(code string) bool {
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57")
}

// waitForServer pings the server until it answers, for at most a minute.
func (s *server) waitForServer(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := s.db.PingContext(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server gone for a minute: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
