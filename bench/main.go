// Command bench measures qg side by side with River on one PostgreSQL server.
// Besides qg's default mode, it measures qg's batch locking (W2) and qg's
// in-process and LISTEN/NOTIFY wake-ups (W3). gue is left out for now: the Go
// module proxy reachable where this was written refuses it; an adapter is
// one more file implementing the system interface (system.go).
//
// Every system gets a scratch database of its own, created (with the system's
// own migration API) when the command starts and dropped when it ends. The
// workloads run for every system, interleaving the systems and repeating the
// runs, and the command prints one Markdown table of medians with ratios to
// qg (or JSON with -json).
//
//	cd bench && go run .            # the full default run (a few minutes)
//	cd bench && go run . -quick     # a smoke run, under a minute
//	cd bench && go run . -json      # machine-readable output
//
// The server is -database-url, or QG_BENCH_DATABASE_URL, or
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable; its user must
// be allowed to create databases.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultDatabaseURL is the server used when neither -database-url nor
// QG_BENCH_DATABASE_URL says otherwise.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// config is everything the flags set.
type config struct {
	databaseURL       string
	systems           []string
	runs              int
	enqueueJobs       int           // W1
	batchJobs         int           // W4
	batchSize         int           // W4 (and the untimed fill before W2)
	drainJobs         int           // W2
	workers           int           // W2's headline concurrency
	concurrency       []int         // W2's sweep
	riverConcurrency  []int         // W2's sweep continued for River alone
	txJobs            int           // W5
	txConcurrency     []int         // W5's sweep
	drainInterval     time.Duration // idle poll interval while draining
	latencyJobs       int           // W3
	latencySpacing    time.Duration // W3: time between two enqueues
	latencyInterval   time.Duration // W3: idle poll interval of the workers
	latencyWorkers    int           // W3
	riverCooldown     time.Duration // River's FetchCooldown
	qgBatch           int           // WorkerPool.Batch of the "qg batch" row of W2
	pgbenchPath       string
	pgbenchSeconds    int
	timeout           time.Duration // bound of each measurement
	synchronousCommit string        // set on every scratch database unless empty
	workloads         []string      // the workloads to run, of workloadNames
	limits            bool          // run the pgbench limits of W2 and W5
	jsonOut           string        // also write the JSON there
	cpuProfile        string        // write a Go CPU profile of the whole run there
	json              bool
	quick             bool
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return // the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := runProfiled(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runProfiled is run, under a CPU profile when cfg.cpuProfile names a file.
func runProfiled(ctx context.Context, cfg config, out io.Writer) error {
	if cfg.cpuProfile == "" {
		return run(ctx, cfg, out)
	}
	f, err := os.Create(cfg.cpuProfile)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer pprof.StopCPUProfile()
	return run(ctx, cfg, out)
}

// parseFlags reads the command line. With -quick, the flags the user did not
// set take the small values of quickDefaults.
func parseFlags(args []string) (config, error) {
	var cfg config
	var systems, concurrency, riverConcurrency, txConcurrency, workloads string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&cfg.databaseURL, "database-url", envOr("QG_BENCH_DATABASE_URL", defaultDatabaseURL),
		"server URL (env QG_BENCH_DATABASE_URL); scratch databases are created on it")
	fs.StringVar(&systems, "systems", strings.Join(systemNames, ","), "systems to measure, comma separated")
	fs.IntVar(&cfg.runs, "runs", 3, "runs of every workload; the table shows medians")
	fs.IntVar(&cfg.enqueueJobs, "n", 5000, "W1: jobs enqueued one at a time")
	fs.IntVar(&cfg.batchJobs, "batch-jobs", 20000, "W4: jobs enqueued in batches")
	fs.IntVar(&cfg.batchSize, "batch-size", 1000, "W4: jobs per batch")
	fs.IntVar(&cfg.drainJobs, "drain-jobs", 20000, "W2: ready jobs to drain")
	fs.IntVar(&cfg.workers, "workers", 4, "W2: workers of the headline drain")
	fs.StringVar(&concurrency, "concurrency", "4,16,64", "W2: worker counts of the sweep, comma separated")
	fs.StringVar(&riverConcurrency, "river-concurrency", "128,256,1000",
		"W2: worker counts for River alone past -concurrency, to find its best (empty: none)")
	fs.IntVar(&cfg.txJobs, "tx-jobs", 10000, "W5: jobs that each insert one row in their own transaction")
	fs.StringVar(&txConcurrency, "tx-concurrency", "4,16,64", "W5: worker counts, comma separated")
	fs.DurationVar(&cfg.drainInterval, "drain-interval", 10*time.Millisecond, "W2: idle poll interval of the workers")
	fs.IntVar(&cfg.latencyJobs, "latency-jobs", 200, "W3: jobs enqueued one by one")
	fs.DurationVar(&cfg.latencySpacing, "latency-spacing", 10*time.Millisecond, "W3: time between two enqueues")
	fs.DurationVar(&cfg.latencyInterval, "latency-interval", time.Second, "W3: idle poll interval of the workers")
	fs.IntVar(&cfg.latencyWorkers, "latency-workers", 4, "W3: idle workers waiting for jobs")
	fs.DurationVar(&cfg.riverCooldown, "river-fetch-cooldown", time.Millisecond,
		"River's FetchCooldown (River's default of 100ms caps a queue at one fetch per 100ms)")
	fs.IntVar(&cfg.qgBatch, "qg-batch", 100, `W2: WorkerPool.Batch of the "qg batch" row (0: no such row)`)
	fs.StringVar(&cfg.pgbenchPath, "pgbench", "", "pgbench binary (default: PATH, then /usr/lib/postgresql/*/bin)")
	fs.IntVar(&cfg.pgbenchSeconds, "pgbench-seconds", 10, "duration of each pgbench run")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "bound of each single measurement")
	fs.StringVar(&cfg.synchronousCommit, "synchronous-commit", "",
		"set synchronous_commit on the scratch databases (e.g. off, to see what commit flushes cost); empty: the server's")
	fs.StringVar(&workloads, "workloads", strings.Join(workloadNames, ","),
		"workloads to run, comma separated")
	fs.BoolVar(&cfg.limits, "limits", true, "W2, W5: run pgbench on qg's own statements after each worker count")
	fs.StringVar(&cfg.jsonOut, "json-out", "", "also write the JSON (every sample) to this file")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run (go tool pprof) to this file")
	fs.BoolVar(&cfg.json, "json", false, "print JSON instead of Markdown")
	fs.BoolVar(&cfg.quick, "quick", false, "small smoke run (under a minute)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.quick {
		applyQuick(fs)
	}
	// Re-read the strings quick may have changed.
	systems = fs.Lookup("systems").Value.String()
	concurrency = fs.Lookup("concurrency").Value.String()
	riverConcurrency = fs.Lookup("river-concurrency").Value.String()
	txConcurrency = fs.Lookup("tx-concurrency").Value.String()
	var err error
	if cfg.systems, err = parseSystems(systems); err != nil {
		return cfg, err
	}
	if cfg.concurrency, err = parseInts(concurrency); err != nil {
		return cfg, fmt.Errorf("-concurrency: %w", err)
	}
	if riverConcurrency != "" {
		if cfg.riverConcurrency, err = parseInts(riverConcurrency); err != nil {
			return cfg, fmt.Errorf("-river-concurrency: %w", err)
		}
	}
	for _, w := range strings.Split(workloads, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains(workloadNames, w) {
			return cfg, fmt.Errorf("-workloads: unknown workload %q (known: %s)", w, strings.Join(workloadNames, ", "))
		}
		cfg.workloads = append(cfg.workloads, w)
	}
	if cfg.txConcurrency, err = parseInts(txConcurrency); err != nil {
		return cfg, fmt.Errorf("-tx-concurrency: %w", err)
	}
	return cfg, validate(cfg)
}

// quickDefaults are the values -quick gives the flags left unset.
var quickDefaults = map[string]string{
	"runs":              "1",
	"n":                 "500",
	"batch-jobs":        "2000",
	"drain-jobs":        "2000",
	"concurrency":       "4,16",
	"river-concurrency": "128",
	"tx-jobs":           "2000",
	"tx-concurrency":    "4,16",
	"latency-jobs":      "30",
	"pgbench-seconds":   "2",
}

// applyQuick sets quickDefaults on the flags the user did not set.
func applyQuick(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, value := range quickDefaults {
		if !set[name] {
			_ = fs.Set(name, value) // the values above are valid
		}
	}
}

// validate rejects settings the workloads cannot run with.
func validate(cfg config) error {
	positive := map[string]int{
		"-runs": cfg.runs, "-n": cfg.enqueueJobs, "-batch-jobs": cfg.batchJobs,
		"-batch-size": cfg.batchSize, "-drain-jobs": cfg.drainJobs, "-workers": cfg.workers,
		"-latency-jobs": cfg.latencyJobs, "-latency-workers": cfg.latencyWorkers,
		"-pgbench-seconds": cfg.pgbenchSeconds, "-tx-jobs": cfg.txJobs,
	}
	for name, v := range positive {
		if v <= 0 {
			return fmt.Errorf("%s must be positive, not %d", name, v)
		}
	}
	switch cfg.synchronousCommit {
	case "", "on", "off", "local", "remote_write", "remote_apply":
	default:
		return fmt.Errorf("-synchronous-commit %q: want on, off, local, remote_write or remote_apply", cfg.synchronousCommit)
	}
	if cfg.qgBatch < 0 {
		return fmt.Errorf("-qg-batch must not be negative, not %d", cfg.qgBatch)
	}
	if cfg.drainInterval <= 0 || cfg.latencyInterval <= 0 || cfg.riverCooldown <= 0 {
		return fmt.Errorf("intervals and -river-fetch-cooldown must be positive")
	}
	return nil
}

// parseInts parses "4,16,32" into positive ints.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, field := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", field)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseSystems checks a comma separated list of system names; qg must be in
// it, since every ratio is to qg.
func parseSystems(s string) ([]string, error) {
	var out []string
	hasQG := false
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(systemNames, name) {
			return nil, fmt.Errorf("-systems: unknown system %q (known: %s)", name, strings.Join(systemNames, ", "))
		}
		hasQG = hasQG || name == "qg"
		out = append(out, name)
	}
	if !hasQG {
		return nil, fmt.Errorf("-systems must include qg: every ratio is to qg")
	}
	return out, nil
}

// selected reports whether workload w was selected.
func (cfg config) selected(w string) bool { return slices.Contains(cfg.workloads, w) }

// envOr is the environment variable key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
