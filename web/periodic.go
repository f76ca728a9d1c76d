package web

import (
	"net/http"
	"time"

	"github.com/qg-go/qg"
)

// periodicRow is one periodic job: its last tick, and the next when its
// Schedule is known (Config.Schedules).
type periodicRow struct {
	qg.PeriodicTick
	Next  time.Time
	Known bool // its Schedule is in Config.Schedules
}

// periodic serves the periodic jobs' page.
func (h *Handler) periodic(w http.ResponseWriter, r *http.Request) {
	ticks, err := h.c.PeriodicTicks(r.Context())
	if err != nil {
		h.fail(w, r, "periodic", err)
		return
	}
	rows := make([]periodicRow, 0, len(ticks))
	for _, t := range ticks {
		row := periodicRow{PeriodicTick: t}
		if s, ok := h.cfg.Schedules[t.Name]; ok && s != nil {
			row.Known, row.Next = true, s.Next(t.LastTick)
		}
		rows = append(rows, row)
	}
	h.render(w, r, "periodic", "Periodic jobs", rows)
}

// unique serves the unique keys' page.
func (h *Handler) unique(w http.ResponseWriter, r *http.Request) {
	keys, err := h.c.UniqueKeys(r.Context(), 500)
	if err != nil {
		h.fail(w, r, "unique keys", err)
		return
	}
	h.render(w, r, "unique", "Unique keys", keys)
}
