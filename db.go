package qg

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/stdlib"
)

// The database layer every other file uses (its public interfaces over
// database/sql are in qg.go): the pgx connection under a database/sql one, how a pinned
// connection goes back to the pool or is discarded, transactions, and the
// one context rule of statements that finish a job.

// rowScanner is what sql.Row and pgx.Row have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// rowsAffected is the count of rows a statement changed.
func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// finishTimeout bounds each statement qg runs to finish or release a job.
// A statement still running then is interrupted, which closes its
// connection; the job's lock goes with it, so nothing is lost.
const finishTimeout = 30 * time.Second

// finishContext is the context of every statement that finishes or
// releases a job (its delete, failure record, COMMIT, ROLLBACK and unlock).
// The rule: finishing statements outlive the client. They must run even
// when the job's own context has ended (a timeout is recorded as an error)
// and while the client closes (or a transaction would go back to the pool
// still open, and a finished job would run again), but not longer than
// finishTimeout.
func finishContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), finishTimeout)
}

// runInTx runs f in a transaction of db, committed when f returns nil.
func runInTx(ctx context.Context, db *sql.DB, f func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// rawConn returns the pgx connection under a pinned *sql.Conn.
func rawConn(conn *sql.Conn) (*pgx.Conn, error) {
	var pc *pgx.Conn
	err := conn.Raw(func(dc any) error {
		var err error
		pc, err = pgxConnOf(dc)
		return err
	})
	return pc, err
}

// pgxConnOf returns the pgx connection under a database/sql driver
// connection of the pgx stdlib driver.
func pgxConnOf(dc any) (*pgx.Conn, error) {
	sc, ok := dc.(*stdlib.Conn)
	if !ok {
		return nil, fmt.Errorf("driver connection is %T, not the pgx stdlib driver's", dc)
	}
	return sc.Conn(), nil
}

// putBack gives a pinned connection back to the pool when keep is set and
// its session is idle, and discards it otherwise: a session inside a
// transaction would hand that transaction to the connection's next user.
func putBack(conn *sql.Conn, keep bool) {
	if !keep || !isIdle(conn) {
		discardConn(conn)
		return
	}
	_ = conn.Close()
}

// isIdle reports whether conn's session is outside any transaction.
func isIdle(conn *sql.Conn) bool {
	pc, err := rawConn(conn)
	if err == nil {
		return pc.PgConn().TxStatus() == 'I'
	}
	// Another driver: a setting local to the transaction outlives the
	// statement only inside a transaction block.
	ctx, cancel := finishContext()
	defer cancel()
	if _, err := conn.ExecContext(ctx, `SELECT set_config('qg.idle_probe', 'in a transaction', true)`); err != nil {
		return false
	}
	var probe string
	err = conn.QueryRowContext(ctx, `SELECT coalesce(current_setting('qg.idle_probe', true), '')`).Scan(&probe)
	return err == nil && probe == ""
}

// discardConn closes the driver connection under conn, so database/sql drops
// it instead of pooling it: PostgreSQL then ends the session and with it every
// lock the session held. conn is closed too.
func discardConn(conn *sql.Conn) {
	_ = conn.Raw(func(dc any) error {
		if c, ok := dc.(*stdlib.Conn); ok {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = c.Conn().Close(ctx)
		}
		return driver.ErrBadConn
	})
}
