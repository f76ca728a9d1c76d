package qg

import (
	"context"
	"database/sql"
	"errors"
	"strings"
)

// ErrAgain is returned by [Client.LockJob] when every job it locked turned out
// to be gone already (worked by someone else between the walk and the lock) ten
// times in a row. It is harmless: call LockJob again.
var ErrAgain = errors.New("qg: maximum number of LockJob attempts reached")

// ErrMissingType is returned, unwrapped, by the enqueue methods when the Job
// has no Type. Compare it with ==, as with the reference library.
var ErrMissingType = errors.New("qg: job type must be specified")

// ErrInvalidArgs is wrapped by the enqueue methods when Job.Args is not valid
// JSON. Nothing is written in that case.
var ErrInvalidArgs = errors.New("qg: job args are not valid JSON")

// ErrNoTable is wrapped by [NewClient2] when the
// que_jobs table does not exist. Run [Migrate] to create it.
var ErrNoTable = errors.New("qg: table que_jobs does not exist (run qg.Migrate)")

// ErrSchemaVersion is wrapped when que_jobs carries another Que schema version
// than the one qg works (3, the Ruby Que 0.x layout).
var ErrSchemaVersion = errors.New("qg: unsupported que_jobs schema version")

// ErrClientClosed is returned by a [Client] used after [Client.Close].
var ErrClientClosed = errors.New("qg: client is closed")

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

// wrapError is an error of qg that wraps another of qg's: its text gives
// the inner error's message once without its own "qg: " prefix, so a chain
// reads "qg: new client: table que_jobs does not exist", not "qg: new
// client: qg: table ...".
type wrapError struct {
	prefix string // "qg: what failed"
	err    error
}

func (e *wrapError) Error() string {
	return e.prefix + ": " + strings.TrimPrefix(e.err.Error(), "qg: ")
}

func (e *wrapError) Unwrap() error { return e.err }

// wrap returns err under prefix (which starts with "qg: "), as
// fmt.Errorf(prefix+": %w", err) would, minus a doubled "qg: ".
func wrap(prefix string, err error) error {
	return &wrapError{prefix: prefix, err: err}
}
