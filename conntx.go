package qg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v4"
)

// connTx is the job's transaction as a Worker runs it: a transaction opened
// with BEGIN on the job's pinned connection, with database/sql's query
// methods. It is not a *sql.Tx because database/sql would send BEGIN and
// COMMIT on round trips of their own; qg pipelines them with the re-check
// and with the delete and unlock.
type connTx struct {
	conn     *sql.Conn
	pgxConn  *pgx.Conn
	finished bool // Commit or Rollback ran
}

// Exec runs a statement in the transaction.
func (t *connTx) Exec(query string, args ...any) (sql.Result, error) {
	return t.ExecContext(context.Background(), query, args...)
}

// ExecContext runs a statement in the transaction.
func (t *connTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(ctx, query, args...)
}

// Query runs a query in the transaction.
func (t *connTx) Query(query string, args ...any) (*sql.Rows, error) {
	return t.QueryContext(context.Background(), query, args...)
}

// QueryContext runs a query in the transaction.
func (t *connTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.conn.QueryContext(ctx, query, args...)
}

// QueryRow runs a query that returns one row in the transaction.
func (t *connTx) QueryRow(query string, args ...any) *sql.Row {
	return t.QueryRowContext(context.Background(), query, args...)
}

// QueryRowContext runs a query that returns one row in the transaction.
func (t *connTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.conn.QueryRowContext(ctx, query, args...)
}

// ErrCommitInWorkFunc is returned by the Commit of a job's transaction
// ([Job.Tx]) called from its WorkFunc. Nothing is committed and the
// transaction stays open and usable: return nil from the WorkFunc and the
// Worker commits the work together with the job's removal, so the work can
// never commit while the job stays queued to run again.
var ErrCommitInWorkFunc = errors.New("qg: a WorkFunc must not commit the job's transaction: " +
	"return nil, and the Worker commits the work with the job's removal")

// Commit refuses: see [ErrCommitInWorkFunc]. The Worker commits the job's
// transaction itself, with the job's deletion in it.
func (t *connTx) Commit() error {
	if t.finished {
		return sql.ErrTxDone
	}
	return ErrCommitInWorkFunc
}

// commit commits the transaction, for the Worker of a batch job (a job of
// the default mode commits in its finishing pipeline, see Job.commit), so
// always on pgx v4: batch locking runs on no other driver.
func (t *connTx) commit() error {
	if t.finished {
		return sql.ErrTxDone
	}
	t.finished = true
	ctx, cancel := finishContext()
	defer cancel()
	tag, err := t.pgxConn.Exec(ctx, "COMMIT")
	if err != nil {
		return err
	}
	if string(tag) == "ROLLBACK" {
		return fmt.Errorf("qg: commit: %w", errRolledBack)
	}
	return nil
}

// Rollback rolls the transaction back.
func (t *connTx) Rollback() error {
	if t.finished {
		return sql.ErrTxDone
	}
	t.finished = true
	ctx, cancel := finishContext()
	defer cancel()
	if t.pgxConn == nil {
		_, err := t.conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	_, err := t.pgxConn.Exec(ctx, "ROLLBACK")
	return err
}
