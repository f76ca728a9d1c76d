package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// pgbenchScript is the ceiling of W1: the single-row insert qg's Enqueue
// sends, with the values qg would bind, in a script pgbench runs as fast as
// one client can over the extended protocol with prepared statements (as pgx
// does with its statement cache).
const pgbenchScript = `INSERT INTO que_jobs (queue, priority, run_at, job_class, args)
VALUES ('', 100, now(), 'BenchJob', '[1]')
RETURNING job_id, priority, run_at;
`

// findPgbench is path when set, else pgbench from PATH, else the newest
// /usr/lib/postgresql/*/bin/pgbench.
func findPgbench(path string) (string, error) {
	if path != "" {
		return exec.LookPath(path)
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) == 0 {
		return "", errors.New("pgbench not found in PATH nor in /usr/lib/postgresql/*/bin (it comes with the postgresql package)")
	}
	slices.SortFunc(matches, func(a, b string) int { return pgMajor(a) - pgMajor(b) })
	return matches[len(matches)-1], nil
}

// pgMajor is the major version in /usr/lib/postgresql/<major>/bin/pgbench.
func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// tpsLine matches pgbench's summary, e.g.
// "tps = 5123.45 (without initial connection time)".
var tpsLine = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench runs pgbenchScript with one client for seconds on dbURL and
// returns the transactions (inserts) per second.
func runPgbench(ctx context.Context, bin, dbURL string, seconds int) (float64, error) {
	script, err := os.CreateTemp("", "qg-bench-*.sql")
	if err != nil {
		return 0, fmt.Errorf("pgbench: script: %w", err)
	}
	defer os.Remove(script.Name())
	if _, err := script.WriteString(pgbenchScript); err != nil {
		return 0, fmt.Errorf("pgbench: script: %w", err)
	}
	if err := script.Close(); err != nil {
		return 0, fmt.Errorf("pgbench: script: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, "-n", "-M", "prepared", "-c", "1", "-j", "1",
		"-T", strconv.Itoa(seconds), "-f", script.Name(), dbURL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w: %s", err, strings.TrimSpace(string(out)))
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench: no tps line in its output: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// recordPgbench measures the W1 ceiling with pgbench on qg's scratch
// database (emptied before and after), or notes once why it cannot.
// A failed pgbench run is a warning, not an error.
func (b *bench) recordPgbench(ctx context.Context, r int, qgSys system) error {
	bin, err := findPgbench(b.cfg.pgbenchPath)
	if err != nil {
		if r == 0 {
			b.res.Pgbench.Missing = err.Error()
			b.progress("pgbench: %v", err)
		}
		return nil
	}
	if err := b.measure(ctx, b.prepare, qgSys); err != nil {
		return err
	}
	tps, err := runPgbench(ctx, bin, b.urls[qgSys.name()], b.cfg.pgbenchSeconds)
	if err != nil {
		// A reference line, not a system under test: a failed run (the
		// server restarted under it, say) only loses this run's sample.
		b.progress("warning: %v", err)
		b.res.Pgbench.TPS = append(b.res.Pgbench.TPS, math.NaN())
		if err := b.srv.waitForServer(ctx); err != nil {
			return err
		}
		qgSys.reconnect()
		return qgSys.reset(ctx)
	}
	b.res.Pgbench.Binary = bin
	b.res.Pgbench.TPS = append(b.res.Pgbench.TPS, tps)
	b.progress("W1 ceiling      %-12s %9.0f inserts/s", "pgbench", tps)
	return qgSys.reset(ctx)
}
