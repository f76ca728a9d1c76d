package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
)

// The limits: pgbench running the statements qg sends per job (limit_sql.go)
// at the concurrency qg ran with, on qg's scratch database, as the ceiling
// of what qg could reach if the library cost nothing. qg's rate over the
// limit's is what the library costs.

// limitKind is one pgbench script of the limits.
type limitKind struct {
	key    string // results key: w2, w2_batch, w5, w5_batch
	label  string // progress label
	script string
	perTx  int  // jobs each transaction of the script finishes
	tx     bool // W5 (-tx-jobs jobs) rather than W2 (-drain-jobs)
	// clients is the pgbench clients for a qg run with workers workers.
	clients func(workers int) int
}

// limitKinds are the limits, in measurement order.
var limitKinds = []limitKind{
	{key: "w2", label: "W2 limit", script: limitDefaultW2, perTx: 1, clients: same},
	// A batch pool's jobs are locked, deleted and unlocked by one
	// connection, whatever the worker count.
	{key: "w2_batch", label: "W2 batch limit", script: limitBatchW2, perTx: 100, clients: func(int) int { return 1 }},
	{key: "w5", label: "W5 limit", script: limitDefaultW5, perTx: 1, tx: true, clients: same},
	{key: "w5_batch", label: "W5 batch limit", script: limitBatchW5, perTx: 1, tx: true, clients: same},
}

// same is the identity on worker counts.
func same(workers int) int { return workers }

// recordLimits measures the limits of W5 (tx) or W2 at workers workers,
// after the systems ran it: each limit whose client count for workers was
// not yet measured in run r. A failed pgbench run is a warning (its sample
// is NaN), not an error.
func (b *bench) recordLimits(ctx context.Context, r int, l lineup, tx bool, workers int) error {
	if !b.cfg.limits {
		return nil
	}
	bin, err := findPgbench(b.cfg.pgbenchPath)
	if err != nil {
		if r == 0 && b.res.Pgbench.Missing == "" {
			b.res.Pgbench.Missing = err.Error()
			b.progress("pgbench: %v", err)
		}
		return nil
	}
	qgSys := qgOf(l.full)
	for _, k := range limitKinds {
		clients := k.clients(workers)
		if k.tx != tx || len(b.res.Limits[k.key][clients]) > r {
			continue
		}
		v, err := b.limit(ctx, bin, qgSys, k, clients)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			b.progress("warning: %s x%d: %v", k.label, clients, err)
			v = math.NaN()
			if werr := b.srv.waitForServer(ctx); werr != nil {
				return werr
			}
			qgSys.reconnect()
		}
		b.res.addLimit(k.key, clients, v)
		b.progress("%-15s x%-3d pgbench %9.0f jobs/s", k.label, clients, v)
	}
	return qgSys.reset(ctx)
}

// limit runs the script of k with clients clients on a fresh queue of qg's
// scratch database and returns jobs finished per second.
func (b *bench) limit(ctx context.Context, bin string, qgSys system, k limitKind, clients int) (float64, error) {
	n := b.cfg.drainJobs
	if k.tx {
		n = b.cfg.txJobs
	}
	base, err := b.limitFill(ctx, qgSys, n)
	if err != nil {
		return 0, err
	}
	// Leave a tenth of the queue, so that no walk ever runs out of jobs.
	perClient := max(1, n*9/10/k.perTx/clients)
	o, err := runPgbench(ctx, bin, b.urls[qgSys.name()], pgbenchRun{
		script: k.script, clients: clients, transactions: perClient,
		defines: map[string]string{"k": "0", "nc": strconv.Itoa(clients), "base": strconv.FormatInt(base, 10)},
	})
	if err != nil {
		return 0, err
	}
	left, err := qgSys.pending(ctx)
	if err != nil {
		return 0, err
	}
	if o.processed == 0 || left == n {
		return 0, fmt.Errorf("pgbench finished no job (%d transactions)", o.processed)
	}
	return o.tps * float64(n-left) / float64(o.processed), nil
}

// limitFill empties qg's job table and W5's table, enqueues n jobs due at
// limitRunAt (with contiguous ids, the first of which it returns),
// analyzes the table and checkpoints.
func (b *bench) limitFill(ctx context.Context, qgSys system, n int) (int64, error) {
	if err := qgSys.reset(ctx); err != nil {
		return 0, err
	}
	db, err := b.appDB(ctx, qgSys.name())
	if err != nil {
		return 0, err
	}
	if _, err := db.ExecContext(ctx, "TRUNCATE bench_rows"); err != nil {
		return 0, fmt.Errorf("truncate bench_rows: %w", err)
	}
	var first int64
	err = db.QueryRowContext(ctx, `WITH jobs AS (
  INSERT INTO que_jobs (job_class, args, run_at)
  SELECT $1::text, json_build_array(g), $2::timestamptz FROM generate_series(0, $3::int - 1) AS g
  RETURNING job_id)
SELECT min(job_id) FROM jobs`, qgJobType, limitRunAt, n).Scan(&first)
	if err != nil {
		return 0, fmt.Errorf("fill que_jobs for pgbench: %w", err)
	}
	if err := qgSys.analyze(ctx); err != nil {
		return 0, err
	}
	return first, b.srv.checkpoint(ctx)
}
