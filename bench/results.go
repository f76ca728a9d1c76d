package main

import (
	"encoding/json"
	"slices"
	"time"
)

// results is every sample of a benchmark, as -json prints it.
type results struct {
	Date     string          `json:"date"`
	Machine  machine         `json:"machine"`
	Settings settings        `json:"settings"`
	Systems  []*systemResult `json:"systems"`
	Pgbench  pgbenchResult   `json:"pgbench"`
	Notes    []string        `json:"notes"`
	// Limits are the pgbench rates of qg's own statements (limit.go), in
	// jobs per second, by limit (w2, w2_batch, w5, w5_batch) and client
	// count, one sample per run (NaN, null, for a failed run).
	Limits map[string]map[int]samples `json:"limits_jobs_per_s,omitempty"`
	// TxRowsChecked is how many W5 rows were checked to be there exactly
	// once (a violation fails the benchmark).
	TxRowsChecked int `json:"w5_rows_checked"`
}

// settings are the parameters the samples were taken with.
type settings struct {
	Runs               int     `json:"runs"`
	EnqueueJobs        int     `json:"w1_jobs"`
	BatchJobs          int     `json:"w4_jobs"`
	BatchSize          int     `json:"batch_size"`
	DrainJobs          int     `json:"w2_jobs"`
	Workers            int     `json:"w2_workers"`
	DrainConcurrency   []int   `json:"w2_concurrency"`                 // every worker count drained with
	RiverConcurrency   []int   `json:"w2_river_concurrency,omitempty"` // River alone, past those
	TxJobs             int     `json:"w5_jobs"`
	TxConcurrency      []int   `json:"w5_concurrency"`
	DrainIntervalMS    float64 `json:"w2_poll_interval_ms"`
	LatencyJobs        int     `json:"w3_jobs"`
	LatencySpacingMS   float64 `json:"w3_spacing_ms"`
	LatencyIntervalMS  float64 `json:"w3_poll_interval_ms"`
	LatencyWorkers     int     `json:"w3_workers"`
	RiverFetchCooldown float64 `json:"river_fetch_cooldown_ms"`
	QGBatch            int     `json:"qg_batch,omitempty"` // WorkerPool.Batch of "qg batch"
	PgbenchSeconds     int     `json:"pgbench_seconds"`
	SynchronousCommit  string  `json:"synchronous_commit,omitempty"` // empty: the server's setting
}

// systemResult is one system's samples, one per run.
type systemResult struct {
	Name         string            `json:"name"`
	EnqueueOne   []float64         `json:"w1_enqueue_one_jobs_per_s,omitempty"`
	EnqueueBatch []float64         `json:"w4_enqueue_batch_jobs_per_s,omitempty"`
	Drain        map[int][]float64 `json:"w2_drain_jobs_per_s,omitempty"` // by worker count
	DrainSeconds map[int][]float64 `json:"w2_drain_seconds,omitempty"`    // by worker count
	LatencyP50   []float64         `json:"w3_latency_p50_ms,omitempty"`
	LatencyP99   []float64         `json:"w3_latency_p99_ms,omitempty"`
	Tx           map[int][]float64 `json:"w5_tx_rows_per_s,omitempty"` // by worker count
	TxSeconds    map[int][]float64 `json:"w5_tx_seconds,omitempty"`    // by worker count
}

// pgbenchResult is the W1 ceiling measured by pgbench, or why it is missing.
type pgbenchResult struct {
	Binary  string  `json:"binary,omitempty"`
	TPS     samples `json:"tps,omitempty"` // one per run, NaN (null) for a failed run
	Missing string  `json:"missing,omitempty"`
}

// newResults starts empty results for cfg.
func newResults(cfg config) *results {
	drains := append(slices.Clone(cfg.concurrency), cfg.workers)
	slices.Sort(drains)
	return &results{
		Date: time.Now().UTC().Format(time.RFC3339),
		Settings: settings{
			Runs:               cfg.runs,
			EnqueueJobs:        cfg.enqueueJobs,
			BatchJobs:          cfg.batchJobs,
			BatchSize:          cfg.batchSize,
			DrainJobs:          cfg.drainJobs,
			Workers:            cfg.workers,
			DrainConcurrency:   slices.Compact(drains),
			RiverConcurrency:   cfg.riverConcurrency,
			TxJobs:             cfg.txJobs,
			TxConcurrency:      cfg.txConcurrency,
			DrainIntervalMS:    ms(cfg.drainInterval),
			LatencyJobs:        cfg.latencyJobs,
			LatencySpacingMS:   ms(cfg.latencySpacing),
			LatencyIntervalMS:  ms(cfg.latencyInterval),
			LatencyWorkers:     cfg.latencyWorkers,
			RiverFetchCooldown: ms(cfg.riverCooldown),
			QGBatch:            cfg.qgBatch,
			PgbenchSeconds:     cfg.pgbenchSeconds,
			SynchronousCommit:  cfg.synchronousCommit,
		},
		Notes: notes(),
	}
}

// system is the result of the system named name, added on first use.
func (r *results) system(name string) *systemResult {
	for _, s := range r.Systems {
		if s.Name == name {
			return s
		}
	}
	s := &systemResult{Name: name, Drain: map[int][]float64{}, DrainSeconds: map[int][]float64{},
		Tx: map[int][]float64{}, TxSeconds: map[int][]float64{}}
	r.Systems = append(r.Systems, s)
	return s
}

// addDrain records one drain of n jobs by workers workers in d.
func (s *systemResult) addDrain(workers, n int, d time.Duration) {
	s.Drain[workers] = append(s.Drain[workers], rate(n, d))
	s.DrainSeconds[workers] = append(s.DrainSeconds[workers], d.Seconds())
}

// addTx records one W5 run of n jobs by workers workers in d.
func (s *systemResult) addTx(workers, n int, d time.Duration) {
	s.Tx[workers] = append(s.Tx[workers], rate(n, d))
	s.TxSeconds[workers] = append(s.TxSeconds[workers], d.Seconds())
}

// addLimit records one sample of limit key at clients clients.
func (r *results) addLimit(key string, clients int, v float64) {
	if r.Limits == nil {
		r.Limits = map[string]map[int]samples{}
	}
	if r.Limits[key] == nil {
		r.Limits[key] = map[int]samples{}
	}
	r.Limits[key][clients] = append(r.Limits[key][clients], v)
}

// notes are the caveats printed under the table.
func notes() []string {
	return []string{
		"gue (vgarvardt/gue) is not measured: the Go module proxy reachable here answers 403 for " +
			"github.com/vgarvardt/gue at every major version, so it cannot be fetched.",
	}
}

// samples are one value per run, NaN where the run has none; JSON shows NaN
// as null.
type samples []float64

// MarshalJSON encodes s as an array of numbers and nulls.
func (s samples) MarshalJSON() ([]byte, error) {
	out := make([]jsonFloat, len(s))
	for i, v := range s {
		out[i] = jsonFloat(v)
	}
	return json.Marshal(out)
}
