package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

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

// processedLine matches pgbench's count of transactions, e.g.
// "number of transactions actually processed: 9000/9000".
var processedLine = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)

// pgbenchRun is one pgbench invocation: script run over the extended
// protocol with prepared statements (as pgx does with its statement
// cache), by clients clients, for seconds or, when transactions is
// positive, that many transactions per client.
type pgbenchRun struct {
	script       string
	clients      int
	seconds      int
	transactions int
	defines      map[string]string // -D name=value
}

// pgbenchOutcome is what a pgbench run printed: transactions per second
// (without connection time) and how many it processed.
type pgbenchOutcome struct {
	tps       float64
	processed int
}

// runPgbench runs r on dbURL.
func runPgbench(ctx context.Context, bin, dbURL string, r pgbenchRun) (pgbenchOutcome, error) {
	script, err := os.CreateTemp("", "qg-bench-*.sql")
	if err != nil {
		return pgbenchOutcome{}, fmt.Errorf("pgbench: script: %w", err)
	}
	defer os.Remove(script.Name())
	if _, err := script.WriteString(r.script); err != nil {
		return pgbenchOutcome{}, fmt.Errorf("pgbench: script: %w", err)
	}
	if err := script.Close(); err != nil {
		return pgbenchOutcome{}, fmt.Errorf("pgbench: script: %w", err)
	}
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(r.clients), "-j", strconv.Itoa(min(r.clients, 2))}
	if r.transactions > 0 {
		args = append(args, "-t", strconv.Itoa(r.transactions))
	} else {
		args = append(args, "-T", strconv.Itoa(r.seconds))
	}
	for _, name := range slices.Sorted(maps.Keys(r.defines)) {
		args = append(args, "-D", name+"="+r.defines[name])
	}
	args = append(args, "-f", script.Name(), dbURL)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return pgbenchOutcome{}, fmt.Errorf("pgbench: %w: %s", err, strings.TrimSpace(string(out)))
	}
	m, n := tpsLine.FindSubmatch(out), processedLine.FindSubmatch(out)
	if m == nil || n == nil {
		return pgbenchOutcome{}, fmt.Errorf("pgbench: no tps or processed line in its output: %s", out)
	}
	var o pgbenchOutcome
	if o.tps, err = strconv.ParseFloat(string(m[1]), 64); err != nil {
		return pgbenchOutcome{}, fmt.Errorf("pgbench: tps: %w", err)
	}
	if o.processed, err = strconv.Atoi(string(n[1])); err != nil {
		return pgbenchOutcome{}, fmt.Errorf("pgbench: processed: %w", err)
	}
	return o, nil
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
	o, err := runPgbench(ctx, bin, b.urls[qgSys.name()], pgbenchRun{
		script: limitW1, clients: 1, seconds: b.cfg.pgbenchSeconds,
		defines: map[string]string{"cls": qgJobType, "args": "[1]"},
	})
	tps := o.tps
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
