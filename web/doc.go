// Package web serves a dashboard of a qg (or Ruby Que) jobs table and a
// Prometheus /metrics endpoint, as one http.Handler an application mounts
// under a path prefix of its own:
//
//	h, err := web.New(client, web.Config{})
//	mux.Handle("/jobs/", http.StripPrefix("/jobs", h))
//
// The pages: an overview of every queue and job class (ready, scheduled,
// being worked, failing, given up, expired, the oldest ready job's age),
// a job list filtered by queue, class and state and paged by job_id, a
// job's page (its args pretty-printed, error count, last error, and while it
// is locked the session holding it), the periodic jobs' last and next
// ticks, and the unique keys. Everything is rendered on the server with
// html/template, so every value read from the table is escaped and the
// pages work offline and with JavaScript off; a small script only refreshes
// the overview's counts from the handler's own counts.json.
//
// # Metrics
//
// GET metrics answers Prometheus' text format: qg_jobs by queue, job class
// and state, qg_jobs_failing, qg_jobs_given_up and qg_jobs_expired,
// qg_oldest_ready_job_age_seconds per queue, qg_jobs_locked and
// qg_scrape_duration_seconds. It is built with the standard library only.
//
// # Actions
//
// The handler is read-only unless [Config.Actions] is set: a read-only
// handler refuses every request but GET and HEAD, whatever its path. With
// Actions on, [Config.Authorize] is required and is asked before each
// action; each action is a POST carrying the page's CSRF token, changes
// only the jobs it names, and leaves alone (and says so) a job a worker
// holds. The actions are: retry a job now, delete it, re-enqueue a given-up
// job, and retry every job of a filtered list.
//
// The handler logs nothing but failures, and never a database URL: it is
// given a Client, not credentials.
package web
