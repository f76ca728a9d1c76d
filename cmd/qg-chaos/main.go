// Command qg-chaos proves, under crashes, that qg never loses a job and never
// runs one twice at once.
//
// It creates a scratch database on the server of -database-url, enqueues
// -jobs jobs and works them with -workers worker processes (copies of itself,
// each running a qg.WorkerPool of -concurrency workers), while it kills
// workers with SIGKILL, ends every server session of the scratch database
// with pg_terminate_backend and, with -restart-postgres, restarts the local
// PostgreSQL (the cluster -pg-cluster, default main, which must be the server
// of -database-url). When the queue is empty it stops the workers and checks that:
//
//   - every job's effect committed exactly once: the effect is written in the
//     job's transaction, so it commits if and only if the job's deletion does;
//   - no job was lost;
//   - no job was run by two workers at the same moment, and every run held
//     the job's advisory lock;
//   - no advisory lock was left behind;
//   - the worker processes kept working after each server-side disconnection.
//
// With -batch N the worker processes use qg's batch locking
// (qg.WorkerPool.Batch = N): one session of each process, the locker's,
// holds the locks of all its jobs, and each job's transaction runs on
// another session. A run then proves that a session of its own worker
// process holds its job's lock, and the end of the locker's session (a
// termination, a restart, a kill) counts as the death of every run whose
// lock it held; see workload.go and batch.go.
//
// It prints a table (JSON with -json) and exits 0 only when all of that holds,
// 1 otherwise. The scratch database is dropped at the end unless -keep.
//
// Usage:
//
//	go run ./cmd/qg-chaos [-jobs 20000] [-workers 4] [-concurrency 4]
//	    [-kills 6] [-terminate 2] [-restart-postgres] [-pg-cluster main] [-batch 0]
//	    [-timeout 10m] [-keep] [-json]
//
// The flags -worker, -token and -fault are internal: the first two start a
// worker process, and -fault=unlock-early makes every run give up its lock
// early (with -batch, one job in ten ends the session holding its lock and works on
// regardless), a deliberate bug that proves the checks can fail.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// Exit codes.
const (
	exitOK     = 0 // every invariant held
	exitFailed = 1 // an invariant failed, or the run could not be done
	exitUsage  = 2 // bad flags
)

// defaultDatabaseURL is the server used when neither -database-url nor
// QG_DATABASE_URL is given.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// faultUnlockEarly is the only deliberate fault -fault accepts.
const faultUnlockEarly = "unlock-early"

// config holds the command's flags, for both the supervisor and the workers.
type config struct {
	databaseURL     string
	jobs            int
	workers         int
	concurrency     int
	kills           int
	terminate       int
	restartPostgres bool
	pgCluster       string // the pg_ctlcluster cluster -restart-postgres restarts
	batch           int    // qg.WorkerPool.Batch in the worker processes; 0: one connection per job
	hostile         bool   // write rows another producer could write during the run
	que             int    // the Que generation of the table: 0 (Que 0.x) or 2 (Que 2.x)
	timeout         time.Duration
	keep            bool
	json            bool

	worker bool   // run as a worker process
	token  string // the worker process's identity, given by the supervisor
	fault  string // a deliberate fault for the self-test, or ""
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run parses args and runs the supervisor or a worker process; it returns
// the exit code.
func run(args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "qg-chaos: %v\n", err)
		return exitUsage
	}
	if cfg.worker {
		return runWorker(cfg)
	}
	return runSupervisor(cfg)
}

// parseFlags reads the command line into a config and validates it.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("qg-chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.databaseURL, "database-url", envOr("QG_DATABASE_URL", defaultDatabaseURL),
		"server to run on (a postgres:// URL); a scratch database is created there")
	fs.IntVar(&c.jobs, "jobs", 20000, "jobs to enqueue")
	fs.IntVar(&c.workers, "workers", 4, "worker OS processes")
	fs.IntVar(&c.concurrency, "concurrency", 4, "qg.WorkerPool size in each worker process")
	fs.IntVar(&c.kills, "kills", 6, "worker processes to kill with SIGKILL during the run")
	fs.IntVar(&c.terminate, "terminate", 2, "rounds of pg_terminate_backend on every session of the scratch database (at least 1)")
	fs.BoolVar(&c.restartPostgres, "restart-postgres", false,
		"restart the local PostgreSQL once mid-run (pg_ctlcluster --skip-systemctl-redirect <version> <cluster> restart)")
	fs.StringVar(&c.pgCluster, "pg-cluster", "main",
		"the cluster -restart-postgres restarts; it must be the server of -database-url (checked with pg_lsclusters)")
	fs.IntVar(&c.batch, "batch", 0, "qg.WorkerPool.Batch in the worker processes: N > 0 locks jobs in batches of N; 0 locks one job per connection")
	fs.BoolVar(&c.hostile, "hostile", false, "during the run, write rows another producer could write (run_at before the "+
		"common era, error_count and priority at their extremes, job_ids shared with other rows) and check each is worked exactly once")
	fs.IntVar(&c.que, "que", 0, "the que_jobs table: 0 for Ruby Que 0.x's (qg.Migrate), 2 for Ruby Que 2.x's (qg.MigrateQue2)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.BoolVar(&c.keep, "keep", false, "keep the scratch database for inspection")
	fs.BoolVar(&c.json, "json", false, "print the summary as JSON")
	fs.BoolVar(&c.worker, "worker", false, "internal: run as a worker process")
	fs.StringVar(&c.token, "token", "", "internal: the worker process's identity")
	fs.StringVar(&c.fault, "fault", "", "internal self-test: "+faultUnlockEarly+" makes runs release their lock early "+
		"(with -batch, one job in ten ends the session holding its lock and works on regardless)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, c.validate()
}

// validate checks the flags' values.
func (c config) validate() error {
	u, err := url.Parse(c.databaseURL)
	switch {
	case err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql"):
		return fmt.Errorf("-database-url must be a postgres:// URL")
	case c.jobs < 1 || c.workers < 1 || c.concurrency < 1:
		return fmt.Errorf("-jobs, -workers and -concurrency must be at least 1")
	case c.que != 0 && c.que != 2:
		return fmt.Errorf("-que must be 0 or 2")
	case c.hostile && c.que == 2:
		// Its rows share job_ids and take error_count to integer's ends,
		// which Que 0.x's key and retry rules allow; Que 2.x's forbid both
		// (id is the key; a job past maximum_retry_count expires).
		return fmt.Errorf("-hostile writes Ruby Que 0.x rows: it cannot run with -que 2")
	case c.kills < 0 || c.batch < 0:
		return fmt.Errorf("-kills and -batch must not be negative")
	case c.terminate < 1:
		return fmt.Errorf("-terminate must be at least 1")
	case c.timeout <= 0:
		return fmt.Errorf("-timeout must be positive")
	case c.fault != "" && c.fault != faultUnlockEarly:
		return fmt.Errorf("-fault: unknown fault %q", c.fault)
	case c.worker && c.token == "":
		return fmt.Errorf("-worker needs -token")
	case c.pgCluster == "" || strings.ContainsAny(c.pgCluster, "/ "):
		return fmt.Errorf("-pg-cluster must name a cluster, as pg_lsclusters lists it")
	case c.restartPostgres && !isLocal(u):
		return fmt.Errorf("-restart-postgres restarts the local PostgreSQL, but -database-url names host %q", u.Hostname())
	}
	return nil
}

// isLocal reports whether u names a server on this machine.
func isLocal(u *url.URL) bool {
	switch u.Hostname() {
	case "", "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// envOr is the environment variable key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
