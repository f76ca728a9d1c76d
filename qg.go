package qg

import (
	"context"
	"database/sql"
)

// The public face of the database layer: the database/sql method sets qg
// accepts, which *sql.DB and *sql.Tx fit.

// Queryer is the set of query methods shared by *sql.DB and *sql.Tx, with
// database/sql's signatures.
type Queryer interface {
	Exec(query string, args ...any) (sql.Result, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(query string, args ...any) (*sql.Rows, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(query string, args ...any) *sql.Row
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Txer is a Queryer that can be committed or rolled back; *sql.Tx fits.
type Txer interface {
	Queryer
	Commit() error
	Rollback() error
}

// Conner is a Queryer that can begin transactions and be closed; *sql.DB fits.
type Conner interface {
	Queryer
	Begin() (*sql.Tx, error)
	Close() error
}

// Compile-time proof that database/sql's types fit the interfaces above.
var (
	_ Txer    = (*sql.Tx)(nil)
	_ Conner  = (*sql.DB)(nil)
	_ Queryer = (*sql.DB)(nil)
)
