// Package drivertest holds qg's tests on other database/sql drivers than
// pgx v4's stdlib: lib/pq and pgx v5's stdlib. A Client on such a *sql.DB
// enqueues and administers jobs through database/sql alone, and refuses to
// lock them (qg.ErrDriver); the jobs it writes are worked by a Client on
// pgx v4. It is a module of its own so that neither driver becomes a
// dependency of qg.
package drivertest
