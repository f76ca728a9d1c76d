package main

import (
	"fmt"
	"math"
	"strings"
)

// limitRow is one line of the limits table: qg's samples of a workload at
// a worker count, beside pgbench's of qg's statements, run by run.
type limitRow struct {
	workload, mode string
	workers        int
	qg, pgbench    []float64
}

// ratio is the median over runs of qg's sample over pgbench's.
func (r limitRow) ratio() jsonFloat { return pairedRatio(r.qg, r.pgbench) }

// limitRows pairs qg's samples with the limits measured for them.
func limitRows(res *results) []limitRow {
	qg, batch := findSystem(res, "qg"), findSystem(res, "qg batch")
	var rows []limitRow
	if qg != nil && len(res.Pgbench.TPS) > 0 {
		rows = append(rows, limitRow{"W1 enqueue one", "default", 1, qg.EnqueueOne, res.Pgbench.TPS})
	}
	add := func(workload, mode string, sys *systemResult, byWorkers func(*systemResult) map[int][]float64, key string, workers []int, clients func(int) int) {
		if sys == nil || res.Limits[key] == nil {
			return
		}
		for _, w := range workers {
			if lim, ok := res.Limits[key][clients(w)]; ok && len(byWorkers(sys)[w]) > 0 {
				rows = append(rows, limitRow{workload, mode, w, byWorkers(sys)[w], lim})
			}
		}
	}
	drains := func(s *systemResult) map[int][]float64 { return s.Drain }
	txs := func(s *systemResult) map[int][]float64 { return s.Tx }
	one := func(int) int { return 1 }
	st := res.Settings
	add("W2 drain", "default", qg, drains, "w2", st.DrainConcurrency, same)
	add("W2 drain", "batch", batch, drains, "w2_batch", st.DrainConcurrency, one)
	add("W5 tx work", "default", qg, txs, "w5", st.TxConcurrency, same)
	add("W5 tx work", "batch", batch, txs, "w5_batch", st.TxConcurrency, same)
	return rows
}

// findSystem is the result of the system called name, or nil.
func findSystem(res *results, name string) *systemResult {
	for _, s := range res.Systems {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// writeLimits prints qg beside pgbench running qg's own statements.
func writeLimits(b *strings.Builder, res *results, _ []summary) {
	rows := limitRows(res)
	if len(rows) == 0 {
		return
	}
	b.WriteString("\nqg against pgbench running qg's own statements per job at the same concurrency (jobs/s, median; " +
		"ratio: the median of the runs' qg/pgbench; batch mode's W2 script is one connection, as the locker is):\n\n")
	b.WriteString("| workload | mode | workers | qg | pgbench, qg's statements | qg / pgbench |\n|---|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %s |\n", r.workload, r.mode, r.workers,
			fmtRate(jsonFloat(median(r.qg))), fmtRate(jsonFloat(median(r.pgbench))), fmtRatio(r.ratio()))
	}
}

// writeTargets prints the targets against the medians.
func writeTargets(b *strings.Builder, res *results, sums []summary) {
	by := map[string]summary{}
	for _, s := range sums {
		by[s.Name] = s
	}
	river, ok := by["river"]
	if !ok {
		return
	}
	b.WriteString("\nTargets (ratios of medians; in brackets the median of the runs' paired ratios):\n\n")
	b.WriteString("| target | qg | River's best | ratio | met |\n|---|---:|---:|---:|---|\n")
	qgTx, batchTx := by["qg"], by["qg batch"]
	if !math.IsNaN(float64(river.BestTx)) {
		for _, s := range []summary{qgTx, batchTx} {
			if s.Name == "" || math.IsNaN(float64(s.BestTx)) {
				continue
			}
			r := s.BestTx / river.BestTx
			fmt.Fprintf(b, "| W5 ≥ 1.5× River's best (%s) | %s @ %d | %s @ %d | %s (%s) | %s |\n", s.Name,
				fmtRate(s.BestTx), s.BestTxAt, fmtRate(river.BestTx), river.BestTxAt, fmtRatio(r),
				fmtRatio(pairedBestRatio(res, s.Name, "river", func(x *systemResult) map[int][]float64 { return x.Tx })), met(r >= 1.5))
		}
	}
	if s, ok := by["qg batch"]; ok && !math.IsNaN(float64(river.BestDrain)) {
		r := s.BestDrain / river.BestDrain
		fmt.Fprintf(b, "| W2 ≥ 1.5× River's best (qg batch) | %s @ %d | %s @ %d | %s (%s) | %s |\n",
			fmtRate(s.BestDrain), s.BestWorkers, fmtRate(river.BestDrain), river.BestWorkers, fmtRatio(r),
			fmtRatio(pairedBestRatio(res, "qg batch", "river", func(x *systemResult) map[int][]float64 { return x.Drain })), met(r >= 1.5))
	}
	rows := limitRows(res)
	var below []string
	for _, r := range rows {
		if v := r.ratio(); !math.IsNaN(float64(v)) && v < 0.8 {
			below = append(below, fmt.Sprintf("%s %s x%d: %s", r.workload, r.mode, r.workers, fmtRatio(v)))
		}
	}
	if len(rows) > 0 {
		detail := "all at or above 0.8×"
		if len(below) > 0 {
			detail = "below: " + strings.Join(below, "; ")
		}
		fmt.Fprintf(b, "| qg ≥ 0.8× pgbench of its own statements, everywhere | | | %s | %s |\n", detail, met(len(below) == 0))
	}
}

// pairedBestRatio is the median over runs of system a's best over system
// b's best of that run, over worker counts.
func pairedBestRatio(res *results, a, b string, byWorkers func(*systemResult) map[int][]float64) jsonFloat {
	sa, sb := findSystem(res, a), findSystem(res, b)
	if sa == nil || sb == nil {
		return nan
	}
	return pairedRatio(bestByRun(byWorkers(sa)), bestByRun(byWorkers(sb)))
}

// met is a target's verdict.
func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// fmtRatio is a ratio with two decimals, or "–".
func fmtRatio(v jsonFloat) string {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(v))
}
