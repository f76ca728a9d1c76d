package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/stdlib"

	"github.com/qg-go/qg"
)

// connectTimeout bounds each attempt to connect to the server, unless the
// URL sets connect_timeout itself.
const connectTimeout = 5 * time.Second

// appName is the application_name of qg's sessions, unless the URL sets one,
// so they can be told apart in pg_stat_activity.
const appName = "qg"

// startHint says how to get a PostgreSQL server running.
const startHint = `Is PostgreSQL running there? Start it, for example with
  pg_ctlcluster <version> main start          (Debian, Ubuntu; see pg_lsclusters)
  brew services start postgresql              (macOS, Homebrew)
  docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres
or point --database-url (or DATABASE_URL) at a server that is running.`

// databaseURL is the URL to use: --database-url, else DATABASE_URL. Neither
// is a usage error.
func databaseURL(e *env, opts *options) (string, error) {
	if opts.databaseURL != "" {
		return opts.databaseURL, nil
	}
	if u := e.getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	return "", usagef("no database: give --database-url or set DATABASE_URL")
}

// parseConfig parses a database URL or DSN. A bad one is a usage error whose
// message never shows a secret of it, in any of the forms it can take.
func parseConfig(raw string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		var ue *url.Error // its text repeats the URL, password included
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, usagef("bad database URL: %s", redactSecrets(raw, err.Error()))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = appName
	}
	return cfg, nil
}

// openDB opens a pool on the command's database with the pgx stdlib driver
// and checks that the server answers. The caller closes it.
func openDB(ctx context.Context, e *env, opts *options) (*sql.DB, error) {
	raw, err := databaseURL(e, opts)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(raw)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(4)
	pingCtx, cancel := context.WithTimeout(ctx, 2*cfg.ConnectTimeout+time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, connectError(ctx, cfg, err)
	}
	return db, nil
}

// connectError explains a failed connection: refused by the server (bad
// user, password or database), or no server reached at all.
func connectError(ctx context.Context, cfg *pgx.ConnConfig, err error) error {
	where := serverAddress(cfg)
	var pgErr serverError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("connect to PostgreSQL at %s: %w", where, ctx.Err())
	case errors.As(err, &pgErr):
		return fmt.Errorf("PostgreSQL at %s refused the connection: %w", where, pgErr)
	}
	return fmt.Errorf("cannot reach PostgreSQL at %s: %w\n%s", where, err, startHint)
}

// serverError is an error the server sent (pgconn.PgError), told apart
// without importing pgconn.
type serverError interface {
	error
	SQLState() string
}

// serverAddress names the server(s) cfg connects to: host:port, or the
// Unix socket's path.
func serverAddress(cfg *pgx.ConnConfig) string {
	addrs := []string{address(cfg.Host, cfg.Port)}
	for _, f := range cfg.Fallbacks {
		if a := address(f.Host, f.Port); a != addrs[len(addrs)-1] {
			addrs = append(addrs, a)
		}
	}
	return strings.Join(addrs, ", ")
}

// address is host:port, or the socket file for a Unix socket directory.
func address(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		return fmt.Sprintf("the Unix socket %s/.s.PGSQL.%d", host, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// newClient returns a qg.Client on db, or an error saying to run `qg
// migrate` when que_jobs is missing. A foreign table version gets
// qg.ErrSchemaVersion's message.
func newClient(db *sql.DB) (*qg.Client, error) {
	c, err := qg.NewClient2(db)
	if err != nil {
		return nil, tableError(err)
	}
	return c, nil
}

// tableError adds the remedy to a missing-table error, and keeps only
// qg.ErrSchemaVersion's message of a foreign table's.
func tableError(err error) error {
	switch {
	case errors.Is(err, qg.ErrNoTable):
		return &remedyError{err: err,
			msg: "table que_jobs does not exist in this database (or search_path): run 'qg migrate' to create it"}
	case errors.Is(err, qg.ErrSchemaVersion):
		return versionError(err)
	}
	return err
}

// versionError is the innermost error of err's chain that still wraps
// qg.ErrSchemaVersion: the library's message without the "qg: new client: "
// around it.
func versionError(err error) error {
	for {
		inner := errors.Unwrap(err)
		if inner == nil || inner == qg.ErrSchemaVersion || !errors.Is(inner, qg.ErrSchemaVersion) {
			return err
		}
		err = inner
	}
}

// remedyError replaces a library error's message with one that says what
// to do, and still wraps it for errors.Is.
type remedyError struct {
	msg string
	err error
}

func (e *remedyError) Error() string { return e.msg }
func (e *remedyError) Unwrap() error { return e.err }

// openClient opens the command's database and a qg.Client on it; done
// closes both.
func openClient(ctx context.Context, e *env, opts *options) (c *qg.Client, done func(), err error) {
	db, err := openDB(ctx, e, opts)
	if err != nil {
		return nil, nil, err
	}
	if c, err = newClient(db); err != nil {
		db.Close()
		return nil, nil, err
	}
	return c, func() { c.Close(); db.Close() }, nil
}

// openJobClient reads the job id of the command's operand, then opens a
// Client as openClient does.
func openJobClient(ctx context.Context, e *env, opts *options) (id int64, c *qg.Client, done func(), err error) {
	if id, err = jobID(opts.operand); err != nil {
		return 0, nil, nil, err
	}
	c, done, err = openClient(ctx, e, opts)
	return id, c, done, err
}
