package web

import (
	"context"
	"net/http"
	"time"

	"github.com/qg-go/qg"
)

// queueRow is one queue of the overview: its totals and its classes.
type queueRow struct {
	qg.QueueCounts
	Classes []qg.QueueCounts
}

// overviewData is the overview page's data and the counts.json document.
type overviewData struct {
	Queues []queueRow      `json:"queues"`
	Total  qg.QueueCounts  `json:"total"`
	At     string          `json:"at"`
	Rows   []countsJSONRow `json:"rows"`
}

// countsJSONRow is one row of counts.json: a queue's total (Class "" and
// Total false), one class of it, or the grand total.
type countsJSONRow struct {
	Queue       string `json:"queue"`
	Class       string `json:"class"`
	Total       bool   `json:"total,omitempty"`
	Ready       int    `json:"ready"`
	Scheduled   int    `json:"scheduled"`
	Working     int    `json:"working"`
	Failing     int    `json:"failing"`
	GivenUp     int    `json:"given_up"`
	Expired     int    `json:"expired"`
	OldestReady string `json:"oldest_ready"`
}

// loadOverview reads the counts and groups them by queue.
func (h *Handler) loadOverview(ctx context.Context) (*overviewData, error) {
	counts, err := h.c.Overview(ctx)
	if err != nil {
		return nil, err
	}
	d := &overviewData{At: time.Now().UTC().Format("2006-01-02 15:04:05 MST")}
	for _, c := range counts {
		if n := len(d.Queues); n == 0 || d.Queues[n-1].Queue != c.Queue {
			d.Queues = append(d.Queues, queueRow{QueueCounts: qg.QueueCounts{Queue: c.Queue}})
		}
		q := &d.Queues[len(d.Queues)-1]
		q.Classes = append(q.Classes, c)
		add(&q.QueueCounts, c)
		add(&d.Total, c)
	}
	for _, q := range d.Queues {
		d.Rows = append(d.Rows, jsonRow(q.QueueCounts, false))
		for _, c := range q.Classes {
			d.Rows = append(d.Rows, jsonRow(c, false))
		}
	}
	d.Rows = append(d.Rows, jsonRow(d.Total, true))
	return d, nil
}

// add adds c's counts to sum, keeping the older ready age.
func add(sum *qg.QueueCounts, c qg.QueueCounts) {
	sum.Ready += c.Ready
	sum.Scheduled += c.Scheduled
	sum.Working += c.Working
	sum.Failing += c.Failing
	sum.GivenUp += c.GivenUp
	sum.Expired += c.Expired
	sum.OldestReadyAge = max(sum.OldestReadyAge, c.OldestReadyAge)
}

// jsonRow is c as a row of counts.json.
func jsonRow(c qg.QueueCounts, total bool) countsJSONRow {
	return countsJSONRow{Queue: c.Queue, Class: c.Type, Total: total, Ready: c.Ready,
		Scheduled: c.Scheduled, Working: c.Working, Failing: c.Failing, GivenUp: c.GivenUp,
		Expired: c.Expired, OldestReady: age(c.OldestReadyAge)}
}

// overview serves the overview page.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	d, err := h.loadOverview(r.Context())
	if err != nil {
		h.fail(w, r, "overview", err)
		return
	}
	h.render(w, r, "overview", "Queues", d)
}

// counts serves the overview's counts as JSON, for the refresh script.
func (h *Handler) counts(w http.ResponseWriter, r *http.Request) {
	d, err := h.loadOverview(r.Context())
	if err != nil {
		h.fail(w, r, "counts", err)
		return
	}
	writeJSON(w, struct {
		At   string          `json:"at"`
		Rows []countsJSONRow `json:"rows"`
	}{d.At, d.Rows})
}
