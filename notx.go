package qg

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
)

// noTx is the Tx of a batch job whose transaction could not begin: every
// statement returns err. QueryRow can only return a *sql.Row that database/sql
// made, so its Scan says the statement's context was cancelled.
type noTx struct{ err error }

func (t noTx) Exec(string, ...any) (sql.Result, error) { return nil, t.err }
func (t noTx) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, t.err
}
func (t noTx) Query(string, ...any) (*sql.Rows, error) { return nil, t.err }
func (t noTx) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, t.err
}
func (t noTx) QueryRow(query string, args ...any) *sql.Row {
	return t.QueryRowContext(context.Background(), query, args...)
}
func (t noTx) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return noDB.QueryRowContext(ctx, query, args...) // fails at once: the context is done
}
func (t noTx) Commit() error   { return t.err }
func (t noTx) Rollback() error { return t.err }

// noDB is a *sql.DB that is never connected: noTx's QueryRow asks it, with
// a cancelled context, for a failed *sql.Row.
var noDB = sql.OpenDB(noConnector{})

// noConnector connects to nothing.
type noConnector struct{}

func (noConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("qg: no connection")
}
func (noConnector) Driver() driver.Driver { return nil }
