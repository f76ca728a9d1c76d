package web

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qg-go/qg"
)

// metrics serves the counts in Prometheus' text exposition format (0.0.4).
// A scrape whose query fails answers 500, so Prometheus marks it down.
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	counts, err := h.c.Overview(r.Context())
	if err != nil {
		h.fail(w, r, "metrics", err)
		return
	}
	var b bytes.Buffer
	writeMetrics(&b, counts, time.Since(start))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// writeMetrics writes the metric families of counts, and the time the
// scrape's query took.
func writeMetrics(b *bytes.Buffer, counts []qg.QueueCounts, took time.Duration) {
	family(b, "qg_jobs", "Jobs in que_jobs by queue, job class and state (ready, scheduled, working, given_up, expired, finished, other_version: Que 2.x rows of another job_schema_version).")
	for _, c := range counts {
		for _, s := range []struct {
			name string
			n    int
		}{{"ready", c.Ready}, {"scheduled", c.Scheduled}, {"working", c.Working}, {"given_up", c.GivenUp}, {"expired", c.Expired},
			{"finished", c.Finished}, {"other_version", c.OtherVersion}} {
			sample(b, "qg_jobs", c.Queue, c.Type, s.name, float64(s.n))
		}
	}
	family(b, "qg_jobs_failing", "Jobs that failed at least once and are not given up, by queue and job class.")
	for _, c := range counts {
		sample(b, "qg_jobs_failing", c.Queue, c.Type, "", float64(c.Failing))
	}
	perQueue(b, counts, "qg_jobs_given_up", "Jobs given up (in the queue's dead-letter queue), by queue.",
		func(c qg.QueueCounts) float64 { return float64(c.GivenUp) }, sum)
	perQueue(b, counts, "qg_jobs_expired", "Jobs Que 2.x expired, by queue (0 on a Que 0.x table).",
		func(c qg.QueueCounts) float64 { return float64(c.Expired) }, sum)
	perQueue(b, counts, "qg_oldest_ready_job_age_seconds", "Seconds the oldest ready job of the queue has been runnable; 0 when none is ready.",
		func(c qg.QueueCounts) float64 { return c.OldestReadyAge.Seconds() }, later)
	locked := 0
	for _, c := range counts {
		locked += c.Working
	}
	family(b, "qg_jobs_locked", "Jobs whose lock a session holds right now (being worked).")
	fmt.Fprintf(b, "qg_jobs_locked %d\n", locked)
	family(b, "qg_scrape_duration_seconds", "Seconds this scrape's query of que_jobs took.")
	fmt.Fprintf(b, "qg_scrape_duration_seconds %s\n", number(took.Seconds()))
}

// sum adds two samples of one queue.
func sum(a, b float64) float64 { return a + b }

// later keeps the larger of two ages of one queue.
func later(a, b float64) float64 { return max(a, b) }

// perQueue writes a family with one sample per queue, folding its classes'
// values with fold.
func perQueue(b *bytes.Buffer, counts []qg.QueueCounts, name, help string,
	value func(qg.QueueCounts) float64, fold func(a, b float64) float64) {
	byQueue := map[string]float64{}
	for _, c := range counts {
		byQueue[c.Queue] = fold(byQueue[c.Queue], value(c))
	}
	queues := make([]string, 0, len(byQueue))
	for q := range byQueue {
		queues = append(queues, q)
	}
	sort.Strings(queues)
	family(b, name, help)
	for _, q := range queues {
		fmt.Fprintf(b, "%s{queue=\"%s\"} %s\n", name, labelValue(q), number(byQueue[q]))
	}
}

// family writes a gauge family's HELP and TYPE lines.
func family(b *bytes.Buffer, name, help string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, helpText(help), name)
}

// sample writes one sample labelled by queue, job class and, when not
// empty, state.
func sample(b *bytes.Buffer, name, queue, class, state string, v float64) {
	fmt.Fprintf(b, "%s{queue=\"%s\",job_class=\"%s\"", name, labelValue(queue), labelValue(class))
	if state != "" {
		fmt.Fprintf(b, ",state=\"%s\"", state)
	}
	fmt.Fprintf(b, "} %s\n", number(v))
}

// labelValue escapes a label value as the text format asks: backslash,
// double quote and line feed.
var labelValue = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace

// helpText escapes a HELP text: backslash and line feed.
var helpText = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace

// number formats a sample value; an infinite age is +Inf.
func number(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}
