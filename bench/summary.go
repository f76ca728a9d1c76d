package main

import (
	"math"
	"slices"
	"strconv"
)

// summary is one system's medians across runs. NaN (null in JSON, "–" in
// Markdown) marks a workload the system did not run.
type summary struct {
	Name         string            `json:"name"`
	EnqueueOne   jsonFloat         `json:"w1_enqueue_one_jobs_per_s"`
	EnqueueBatch jsonFloat         `json:"w4_enqueue_batch_jobs_per_s"`
	Drain        jsonFloat         `json:"w2_drain_jobs_per_s"`
	DrainSeconds jsonFloat         `json:"w2_drain_seconds"`
	BestDrain    jsonFloat         `json:"w2_best_jobs_per_s"`
	BestWorkers  int               `json:"w2_best_workers,omitempty"`
	Sweep        map[int]jsonFloat `json:"w2_sweep_jobs_per_s,omitempty"`
	LatencyP50   jsonFloat         `json:"w3_latency_p50_ms"`
	LatencyP99   jsonFloat         `json:"w3_latency_p99_ms"`
	TxSweep      map[int]jsonFloat `json:"w5_tx_rows_per_s,omitempty"`
	BestTx       jsonFloat         `json:"w5_best_rows_per_s"`
	BestTxAt     int               `json:"w5_best_workers,omitempty"`
	// RatiosToQG are, workload by workload, the system's median over qg's.
	RatiosToQG map[string]jsonFloat `json:"ratios_to_qg,omitempty"`
	// PairedRatiosToQG are the medians over runs of the system's sample
	// divided by qg's sample of the same run. The systems of a run are
	// measured back to back, so these hold up better when the machine's
	// load changes from run to run.
	PairedRatiosToQG map[string]jsonFloat `json:"paired_ratios_to_qg,omitempty"`
}

// summarize computes the medians of every system and of the pgbench row,
// and their ratios to qg.
func summarize(res *results) []summary {
	rows := slices.Clone(res.Systems)
	if len(res.Pgbench.TPS) > 0 {
		rows = append(rows, &systemResult{Name: "pgbench ceiling", EnqueueOne: res.Pgbench.TPS})
	}
	var qg *systemResult
	for _, s := range rows {
		if s.Name == "qg" {
			qg = s
		}
	}
	out := make([]summary, 0, len(rows))
	for _, s := range rows {
		out = append(out, summarizeSystem(s, res.Settings.Workers))
	}
	if qg == nil {
		return out
	}
	qgSum := summarizeSystem(qg, res.Settings.Workers)
	for i, s := range rows {
		if s != qg {
			out[i].RatiosToQG = ratios(out[i], qgSum)
			out[i].PairedRatiosToQG = pairedRatios(s, qg, res.Settings.Workers)
		}
	}
	return out
}

// summarizeSystem is the medians of one system's samples; workers is W2's
// headline worker count.
func summarizeSystem(s *systemResult, workers int) summary {
	sum := summary{
		Name:         s.Name,
		EnqueueOne:   jsonFloat(median(s.EnqueueOne)),
		EnqueueBatch: jsonFloat(median(s.EnqueueBatch)),
		Drain:        jsonFloat(median(s.Drain[workers])),
		DrainSeconds: jsonFloat(median(s.DrainSeconds[workers])),
		BestDrain:    nan,
		LatencyP50:   jsonFloat(median(s.LatencyP50)),
		LatencyP99:   jsonFloat(median(s.LatencyP99)),
	}
	sum.Sweep, sum.BestDrain, sum.BestWorkers = sweep(s.Drain)
	sum.TxSweep, sum.BestTx, sum.BestTxAt = sweep(s.Tx)
	return sum
}

// sweep is the median of every worker count's samples, and the best of
// them with its worker count (NaN and 0 when there is none).
func sweep(byWorkers map[int][]float64) (map[int]jsonFloat, jsonFloat, int) {
	var out map[int]jsonFloat
	best, at := nan, 0
	for _, w := range sortedKeys(byWorkers) {
		if out == nil {
			out = map[int]jsonFloat{}
		}
		m := jsonFloat(median(byWorkers[w]))
		out[w] = m
		if math.IsNaN(float64(best)) || m > best {
			best, at = m, w
		}
	}
	return out, best, at
}

// ratios is s's medians over qg's, workload by workload (for latencies and
// times too: below one is faster than qg there).
func ratios(s, qg summary) map[string]jsonFloat {
	out := map[string]jsonFloat{
		"w1_enqueue_one":   s.EnqueueOne / qg.EnqueueOne,
		"w4_enqueue_batch": s.EnqueueBatch / qg.EnqueueBatch,
		"w2_drain":         s.Drain / qg.Drain,
		"w2_drain_seconds": s.DrainSeconds / qg.DrainSeconds,
		"w2_best":          s.BestDrain / qg.BestDrain,
		"w3_latency_p50":   s.LatencyP50 / qg.LatencyP50,
		"w3_latency_p99":   s.LatencyP99 / qg.LatencyP99,
	}
	for w, v := range s.Sweep {
		out["w2_sweep_"+strconv.Itoa(w)] = v / qg.Sweep[w]
	}
	for w, v := range s.TxSweep {
		out["w5_sweep_"+strconv.Itoa(w)] = v / qg.TxSweep[w]
	}
	out["w5_best"] = s.BestTx / qg.BestTx
	return out
}

// pairedRatios is s over qg run by run, workload by workload: the median of
// the per-run ratios.
func pairedRatios(s, qg *systemResult, workers int) map[string]jsonFloat {
	out := map[string]jsonFloat{
		"w1_enqueue_one":   pairedRatio(s.EnqueueOne, qg.EnqueueOne),
		"w4_enqueue_batch": pairedRatio(s.EnqueueBatch, qg.EnqueueBatch),
		"w2_drain":         pairedRatio(s.Drain[workers], qg.Drain[workers]),
		"w2_drain_seconds": pairedRatio(s.DrainSeconds[workers], qg.DrainSeconds[workers]),
		"w2_best":          pairedRatio(bestByRun(s.Drain), bestByRun(qg.Drain)),
		"w3_latency_p50":   pairedRatio(s.LatencyP50, qg.LatencyP50),
		"w3_latency_p99":   pairedRatio(s.LatencyP99, qg.LatencyP99),
	}
	for w, v := range s.Drain {
		out["w2_sweep_"+strconv.Itoa(w)] = pairedRatio(v, qg.Drain[w])
	}
	for w, v := range s.Tx {
		out["w5_sweep_"+strconv.Itoa(w)] = pairedRatio(v, qg.Tx[w])
	}
	out["w5_best"] = pairedRatio(bestByRun(s.Tx), bestByRun(qg.Tx))
	return out
}

// pairedRatio is the median over runs of s[i]/qg[i], over the runs in which
// both were measured; NaN when there is none.
func pairedRatio(s, qg []float64) jsonFloat {
	var rs []float64
	for i := range min(len(s), len(qg)) {
		if r := s[i] / qg[i]; finite(r) {
			rs = append(rs, r)
		}
	}
	return jsonFloat(median(rs))
}

// bestByRun is, for each run, the best drain rate over the worker counts.
func bestByRun(drain map[int][]float64) []float64 {
	var out []float64
	for _, samples := range drain {
		for i, v := range samples {
			if i == len(out) {
				out = append(out, v)
			}
			out[i] = max(out[i], v)
		}
	}
	return out
}

// sortedKeys is m's keys in increasing order.
func sortedKeys(m map[int][]float64) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}

// nan marks a missing value.
var nan = jsonFloat(math.NaN())
