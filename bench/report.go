package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// jsonFloat is a float64 that JSON encodes as null when it is NaN or
// infinite (a missing value or a ratio to a missing value).
type jsonFloat float64

// MarshalJSON encodes f as a number, or null when it is not finite.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// writeJSON prints every sample and the medians as indented JSON.
func writeJSON(w io.Writer, res *results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	err := enc.Encode(struct {
		*results
		Medians []summary `json:"medians"`
	}{res, summarize(res)})
	if err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// writeMarkdown prints the machine, the table of medians with ratios to qg,
// the concurrency sweep and the notes, as Markdown for the README.
func writeMarkdown(w io.Writer, res *results) error {
	sums := summarize(res)
	var b strings.Builder
	st := res.Settings
	fmt.Fprintf(&b, "Machine: %s. %s.\n\n", describe(res.Machine), res.Date)
	fmt.Fprintf(&b, "Medians of %d run(s); in brackets, the ratio to qg's median "+
		"(jobs/s: higher is better; times and latencies: lower is better). -json also gives run-by-run paired ratios.\n\n", st.Runs)
	fmt.Fprintf(&b, "| system | W1 enqueue one (jobs/s) | W4 enqueue batch (jobs/s) | W2 drain, %d workers (jobs/s) | W2 time to empty | W2 best (jobs/s @ workers) | W3 latency p50 | W3 latency p99 |\n", st.Workers)
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range sums {
		r := s.RatiosToQG
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Name,
			cell(fmtRate(s.EnqueueOne), r["w1_enqueue_one"]),
			cell(fmtRate(s.EnqueueBatch), r["w4_enqueue_batch"]),
			cell(fmtRate(s.Drain), r["w2_drain"]),
			cell(fmtSeconds(s.DrainSeconds), r["w2_drain_seconds"]),
			cell(fmtBest(s), r["w2_best"]),
			cell(fmtMS(s.LatencyP50), r["w3_latency_p50"]),
			cell(fmtMS(s.LatencyP99), r["w3_latency_p99"]))
	}
	writeSweep(&b, "W2 concurrency sweep (jobs/s, median)", sums, slices.Concat(st.DrainConcurrency, st.RiverConcurrency),
		func(s summary) map[int]jsonFloat { return s.Sweep }, "w2_sweep_")
	writeSweep(&b, "W5 transactional work (rows committed/s, median; every row checked exactly once)", sums, st.TxConcurrency,
		func(s summary) map[int]jsonFloat { return s.TxSweep }, "w5_sweep_")
	writeLimits(&b, res, sums)
	writeTargets(&b, res, sums)
	writeWorkloads(&b, res)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeSweep prints a table of one workload's medians by worker count,
// with the ratios to qg whose keys start with ratioKey.
func writeSweep(b *strings.Builder, title string, sums []summary, workers []int, values func(summary) map[int]jsonFloat, ratioKey string) {
	fmt.Fprintf(b, "\n%s:\n\n| system |", title)
	for _, w := range workers {
		fmt.Fprintf(b, " %d workers |", w)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(workers)) + "\n")
	for _, s := range sums {
		vs := values(s)
		if vs == nil {
			continue
		}
		b.WriteString("| " + s.Name + " |")
		for _, w := range workers {
			v, ok := vs[w]
			if !ok {
				v = nan
			}
			fmt.Fprintf(b, " %s |", cell(fmtRate(v), s.RatiosToQG[ratioKey+strconv.Itoa(w)]))
		}
		b.WriteString("\n")
	}
}

// writeWorkloads says what each column measured, and the notes.
func writeWorkloads(b *strings.Builder, res *results) {
	st := res.Settings
	fmt.Fprintf(b, "\n- W1: %d no-op jobs enqueued one at a time, one after the other (one connection).\n", st.EnqueueJobs)
	fmt.Fprintf(b, "- W4: %d jobs enqueued in batches of %d (qg: EnqueueBatch; River: InsertMany).\n", st.BatchJobs, st.BatchSize)
	fmt.Fprintf(b, "- W2: %d ready jobs drained; time from starting the workers until every job is finished in the database; idle poll interval %s (River FetchCooldown %s).",
		st.DrainJobs, fmtDurationMS(st.DrainIntervalMS), fmtDurationMS(st.RiverFetchCooldown))
	if st.QGBatch > 0 {
		fmt.Fprintf(b, " qg batch: WorkerPool.Batch = %d (one connection locks up to that many jobs at once; finished jobs are deleted and unlocked in batches).", st.QGBatch)
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "- W3: %d jobs enqueued %s apart to %d idle workers; time from just before the enqueue call to the job function's start; poll interval %s, measured jobs starting at a random phase of it. "+
		"qg: the producer is a Client of its own (as another process would be), the workers only poll. "+
		"qg same client: Enqueue on the workers' own Client wakes them in-process. "+
		"qg notified: qg.InstallNotifyTrigger and WorkerPool.Listen, producer of its own. "+
		"River: an inserting client of its own; the working client listens for insert notifications (River's default).\n",
		st.LatencyJobs, fmtDurationMS(st.LatencySpacingMS), st.LatencyWorkers, fmtDurationMS(st.LatencyIntervalMS))
	if len(st.RiverConcurrency) > 0 {
		fmt.Fprintf(b, "- W2, River alone also at %s workers, to find its best.\n", joinInts(st.RiverConcurrency))
	}
	if len(st.TxConcurrency) > 0 {
		fmt.Fprintf(b, "- W5: %d ready jobs, each inserting one row into bench_rows (no key, no index) in the transaction that finishes it "+
			"(qg: through Job.Tx, committed with the job's deletion; River: a transaction of the worker's own with the insert and JobCompleteTx); "+
			"rows per second from starting the workers until every job is finished; after every drain each row was checked to be there exactly once "+
			"(%d rows checked in all: none missing, none doubled, or the run would have failed).\n", st.TxJobs, res.TxRowsChecked)
	}
	if len(res.Limits) > 0 {
		b.WriteString("- Limits: pgbench (prepared statements, pipelines as qg's) running the statements qg sends per job in each mode, " +
			"right after qg's measurement at the same concurrency, on qg's scratch database (bench/README.md says how they were captured and where they differ).\n")
	}
	if st.SynchronousCommit != "" {
		fmt.Fprintf(b, "- Every scratch database had synchronous_commit = %s.\n", st.SynchronousCommit)
	}
	if len(res.Pgbench.TPS) > 0 {
		fmt.Fprintf(b, "- pgbench ceiling: qg's single-row INSERT into que_jobs, 1 client, prepared statements, %d s (%s).\n", st.PgbenchSeconds, res.Pgbench.Binary)
	} else if res.Pgbench.Missing != "" {
		fmt.Fprintf(b, "- pgbench ceiling: not measured: %s.\n", res.Pgbench.Missing)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(b, "- Note: %s\n", n)
	}
}

// joinInts is ns as "4, 16 and 64".
func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// describe is the machine in one line.
func describe(m machine) string {
	cpu := ""
	if m.CPU != "" {
		cpu = " (" + m.CPU + ")"
	}
	mods := make([]string, 0, len(m.Modules))
	for path, v := range m.Modules {
		mods = append(mods, path+" "+v)
	}
	slices.Sort(mods)
	load := ""
	if m.LoadStart != "" {
		load = fmt.Sprintf("; load average %s at start, %s at end", m.LoadStart, m.LoadEnd)
		if len(m.LoadSamples) > 0 {
			load += fmt.Sprintf(" (1-minute load as the %d measurements started: min %.1f, median %.1f, max %.1f)",
				len(m.LoadSamples), slices.Min(m.LoadSamples), median(m.LoadSamples), slices.Max(m.LoadSamples))
		}
	}
	return fmt.Sprintf("%d cores%s, %s/%s, %s, PostgreSQL %s; %s%s",
		m.Cores, cpu, m.GOOS, m.GOARCH, m.GoVersion, m.PostgreSQL, strings.Join(mods, ", "), load)
}

// cell is value followed by its ratio to qg, when there is one.
func cell(value string, ratio jsonFloat) string {
	r := float64(ratio)
	if value == "–" || ratio == 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return value
	}
	switch {
	case r >= 100:
		return fmt.Sprintf("%s (%.0f×)", value, r)
	case r >= 0.1:
		return fmt.Sprintf("%s (%.2f×)", value, r)
	default:
		return fmt.Sprintf("%s (%.2g×)", value, r)
	}
}

// fmtRate is a jobs/s value with thousands separators.
func fmtRate(v jsonFloat) string {
	if math.IsNaN(float64(v)) {
		return "–"
	}
	s := strconv.FormatInt(int64(math.Round(float64(v))), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// fmtSeconds is a duration in seconds.
func fmtSeconds(v jsonFloat) string {
	if math.IsNaN(float64(v)) {
		return "–"
	}
	return fmt.Sprintf("%.2f s", float64(v))
}

// fmtMS is a latency in milliseconds, with a precision that suits its size.
func fmtMS(v jsonFloat) string {
	if math.IsNaN(float64(v)) {
		return "–"
	}
	return fmtDurationMS(float64(v))
}

// fmtDurationMS formats milliseconds as ms, or as s from one second on.
func fmtDurationMS(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(math.Round(v/10)/100, 'f', -1, 64) + " s"
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

// fmtBest is the best drain rate of the sweep and its worker count.
func fmtBest(s summary) string {
	if math.IsNaN(float64(s.BestDrain)) {
		return "–"
	}
	return fmt.Sprintf("%s @ %d", fmtRate(s.BestDrain), s.BestWorkers)
}
