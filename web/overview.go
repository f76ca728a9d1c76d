package web

import (
	"context"
	"errors"
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
	// Que2 says the table is Ruby Que 2.x's: expired, finished and other
	// version columns in place of given up.
	Que2 bool `json:"-"`
	// Pausable says qg_paused_queues exists; Paused are the paused queues
	// (with or without jobs), by name.
	Pausable bool             `json:"-"`
	Paused   []qg.PausedQueue `json:"-"`
}

// countsJSONRow is one row of counts.json: a queue's total (Class "" and
// Total false), one class of it, or the grand total.
type countsJSONRow struct {
	Queue        string `json:"queue"`
	Class        string `json:"class"`
	Total        bool   `json:"total,omitempty"`
	Ready        int    `json:"ready"`
	Scheduled    int    `json:"scheduled"`
	Working      int    `json:"working"`
	Failing      int    `json:"failing"`
	GivenUp      int    `json:"given_up"`
	Expired      int    `json:"expired"`
	Finished     int    `json:"finished"`
	OtherVersion int    `json:"other_version"`
	OldestReady  string `json:"oldest_ready"`
}

// loadOverview reads the counts and groups them by queue.
func (h *Handler) loadOverview(ctx context.Context) (*overviewData, error) {
	counts, err := h.c.Overview(ctx)
	if err != nil {
		return nil, err
	}
	d := &overviewData{At: time.Now().UTC().Format("2006-01-02 15:04:05 MST"), Que2: que2(h.c)}
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
	sum.Finished += c.Finished
	sum.OtherVersion += c.OtherVersion
	sum.OldestReadyAge = max(sum.OldestReadyAge, c.OldestReadyAge)
}

// jsonRow is c as a row of counts.json.
func jsonRow(c qg.QueueCounts, total bool) countsJSONRow {
	return countsJSONRow{Queue: c.Queue, Class: c.Type, Total: total, Ready: c.Ready,
		Scheduled: c.Scheduled, Working: c.Working, Failing: c.Failing, GivenUp: c.GivenUp,
		Expired: c.Expired, Finished: c.Finished, OtherVersion: c.OtherVersion,
		OldestReady: age(c.OldestReadyAge)}
}

// overview serves the overview page, with the paused queues.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	d, err := h.loadOverview(r.Context())
	if err != nil {
		h.fail(w, r, "overview", err)
		return
	}
	d.Paused, err = h.c.PausedQueues(r.Context())
	switch {
	case errors.Is(err, qg.ErrPauseUnavailable): // a table without qg's side tables
	case err != nil:
		h.fail(w, r, "paused queues", err)
		return
	default:
		d.Pausable = true
	}
	h.render(w, r, "overview", "Queues", d)
}

// PausedSince is when queue was paused, zero when it is not (for the
// template).
func (d *overviewData) PausedSince(queue string) time.Time {
	for _, p := range d.Paused {
		if p.Queue == queue {
			return p.PausedAt
		}
	}
	return time.Time{}
}

// que2Schema is the Que schema version of Ruby Que 2.x's table.
const que2Schema = 7

// que2 reports whether c works a Ruby Que 2.x table.
func que2(c *qg.Client) bool { return c.SchemaVersion() == que2Schema }

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
