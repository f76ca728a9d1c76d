package qg

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v4"
)

// onSocket runs f, whose statements run on pc under context.Background(),
// bounded by ctx all the same: when ctx ends first, the deadline of pc's
// socket passes at once, so a statement waiting on the server fails, and pc
// is closed (database/sql then discards it instead of handing it out).
//
// database/sql and pgx each watch a cancellable context with a goroutine
// per statement; for a single-row INSERT that handoff costs about a fifth
// of the enqueue on two cores. context.AfterFunc costs no goroutine unless
// ctx ends.
//
// When ctx ends after f succeeded, f's work stands and nil is returned (the
// connection is still closed: its deadline may have passed).
func onSocket(ctx context.Context, pc *pgx.Conn, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sock := pc.PgConn().Conn()
	stop := context.AfterFunc(ctx, func() { _ = sock.SetDeadline(time.Unix(1, 0)) })
	err := f()
	if stop() {
		return err
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = pc.Close(closeCtx)
	if err != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return nil
}

// onPoolConn runs onPgx with the pgx connection under one of db's
// connections, bounded by ctx as [onSocket] says. A connection of another
// driver, or one wrapped by instrumentation, has no pgx connection to reach:
// onSQL then runs on it with database/sql's own handling of ctx.
func onPoolConn(ctx context.Context, db *sql.DB, onPgx func(pc *pgx.Conn) error, onSQL func(conn *sql.Conn) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	pc, err := rawConn(conn)
	if err != nil {
		return onSQL(conn)
	}
	return onSocket(ctx, pc, func() error { return onPgx(pc) })
}
