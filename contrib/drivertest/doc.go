// Package drivertest holds qg's tests on other database/sql drivers than
// pgx v4's stdlib: lib/pq and pgx v5's stdlib. A Client on such a *sql.DB
// works through database/sql alone (a statement at a time where pgx v4
// pipelines; no Listen, no batch locking), and shares its jobs with a
// Client on pgx v4. It is a module of its own so that neither driver
// becomes a dependency of qg.
package drivertest
