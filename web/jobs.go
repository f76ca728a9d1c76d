package web

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/qg-go/qg"
)

// states0 and states2 are the states the job list filters on, on a Que
// 0.x and on a Que 2.x table, in the order a job usually goes through them.
var (
	states0 = []qg.JobState{qg.JobReady, qg.JobScheduled, qg.JobRunning, qg.JobRetrying, qg.JobDead}
	states2 = []qg.JobState{qg.JobReady, qg.JobScheduled, qg.JobRunning, qg.JobRetrying, qg.JobExpired, qg.JobFinished,
		qg.JobOtherVersion}
)

// statesOf are the states of the table generation.
func statesOf(que2 bool) []qg.JobState {
	if que2 {
		return states2
	}
	return states0
}

// listFilter is the job list's filter as the query string gives it.
type listFilter struct {
	Queue, Class, State string
	Default             bool // the default queue ("") only
	After               int64
}

// parseFilter reads the filter from the query string: queue (empty: every
// queue), default (the default queue "" only), class, state and after (the
// last job_id of the previous page).
func parseFilter(q url.Values) (listFilter, qg.JobFilter, error) {
	lf := listFilter{Queue: q.Get("queue"), Class: q.Get("class"), State: q.Get("state"),
		Default: q.Get("default") != ""}
	var f qg.JobFilter
	switch {
	case lf.Queue != "":
		lf.Default = false
		f.Queues = []string{lf.Queue}
	case lf.Default:
		f.Queues = []string{""}
	}
	if lf.Class != "" {
		f.Types = []string{lf.Class}
	}
	if lf.State != "" {
		if !validState(lf.State) {
			return lf, f, errors.New("unknown state " + strconv.Quote(lf.State))
		}
		f.State = qg.JobState(lf.State)
	}
	if a := q.Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			return lf, f, errors.New("after must be a job_id")
		}
		lf.After, f.AfterID = n, n
	}
	return lf, f, nil
}

// validState reports whether s names a state of either generation (the
// root package reads dead and expired alike).
func validState(s string) bool {
	for _, list := range [][]qg.JobState{states0, states2} {
		for _, st := range list {
			if string(st) == s {
				return true
			}
		}
	}
	return false
}

// query is the filter's query string, with after when it is set; its
// values are escaped by url.Values, so it is safe in a link.
func (lf listFilter) query(after int64) template.URL {
	v := url.Values{}
	if lf.Queue != "" {
		v.Set("queue", lf.Queue)
	}
	if lf.Default {
		v.Set("default", "1")
	}
	if lf.Class != "" {
		v.Set("class", lf.Class)
	}
	if lf.State != "" {
		v.Set("state", lf.State)
	}
	if after > 0 {
		v.Set("after", strconv.FormatInt(after, 10))
	}
	return template.URL(v.Encode())
}

// jobsData is the job list page's data.
type jobsData struct {
	Que2   bool // a Ruby Que 2.x table: tags and job_schema_version shown
	Filter listFilter
	States []qg.JobState
	Jobs   []qg.JobInfo
	Next   template.URL // the next page's query string; empty on the last page
	First  template.URL // the first page's query string, when this is not it
	Self   template.URL // this page's query string, for the actions' return
	Upto   int64        // the highest job_id shown, which bounds a bulk retry
}

// jobs serves the job list.
func (h *Handler) jobs(w http.ResponseWriter, r *http.Request) {
	lf, f, err := parseFilter(r.URL.Query())
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		h.render(w, r, "error", "Bad filter", err.Error())
		return
	}
	f.Limit = h.cfg.PageSize + 1 // one more says whether a next page exists
	list, err := h.c.ListJobs(r.Context(), f)
	if err != nil {
		h.fail(w, r, "job list", err)
		return
	}
	d := jobsData{Que2: que2(h.c), Filter: lf, States: statesOf(que2(h.c)), Self: lf.query(lf.After)}
	if len(list) > h.cfg.PageSize {
		list = list[:h.cfg.PageSize]
		d.Next = lf.query(list[len(list)-1].ID)
	}
	if lf.After > 0 {
		d.First = lf.query(0)
	}
	if len(list) > 0 {
		d.Upto = list[len(list)-1].ID
	}
	d.Jobs = list
	h.render(w, r, "jobs", "Jobs", d)
}

// jobData is a job's page's data.
type jobData struct {
	Job          *qg.JobInfo
	Holder       *qg.JobSession
	Args         string
	Que2         bool   // a Ruby Que 2.x table: its columns shown
	Kwargs, Data string // pretty-printed (Que 2.x)
	// Open says the job is neither given up nor finished: there is
	// something to snooze or cancel.
	Open bool
}

// job serves a job's page.
func (h *Handler) job(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		h.render(w, r, "error", "Bad job id", "a job id is a number")
		return
	}
	info, err := h.c.FindJob(r.Context(), id)
	if errors.Is(err, qg.ErrJobNotFound) {
		w.WriteHeader(http.StatusNotFound)
		h.render(w, r, "error", "No such job", "job "+strconv.FormatInt(id, 10)+" is not in que_jobs: it was worked and deleted, or never there")
		return
	}
	if err != nil {
		h.fail(w, r, "job", err)
		return
	}
	d := jobData{Job: info, Args: pretty(info.Args), Que2: que2(h.c), Kwargs: pretty(info.Kwargs),
		Data: pretty(info.Data), Open: !givenUp(info.State) && info.State != qg.JobFinished}
	if info.State == qg.JobRunning || info.WorkerPID != 0 {
		if d.Holder, err = h.c.JobHolder(r.Context(), id); err != nil {
			h.fail(w, r, "job holder", err)
			return
		}
	}
	h.render(w, r, "job", "Job "+strconv.FormatInt(id, 10), d)
}

// writeJSON writes v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// trimmed is s cut to n runes with an ellipsis, for a table cell.
func trimmed(s string, n int) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
