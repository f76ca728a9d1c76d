// Package web serves a dashboard of a qg (or Ruby Que) jobs table and a
// Prometheus /metrics endpoint, as one http.Handler an application mounts
// under a path prefix of its own:
//
//	h, err := web.New(client, web.Config{})
//	mux.Handle("/jobs/", http.StripPrefix("/jobs", h))
//
// The pages: an overview of every queue and job class (ready, scheduled,
// being worked, failing, given up, the oldest ready job's age, and whether
// the queue is paused), a job list filtered by queue, class and state and
// paged by job_id, a job's page (its args pretty-printed, error count, last
// error, and while it is locked the session holding it), the periodic
// jobs' last and next ticks, and the unique keys.
//
// # Ruby Que 2.x
//
// On a Ruby Que 2.x table (schema 7) the pages show what its columns add: a
// job's kwargs and data pretty-printed, its tags (data.tags) in the list and
// on its page, the last error's backtrace, expired_at, finished_at and
// job_schema_version. A given-up job is in state expired there (where a Que
// 0.x table says dead and moves it to a dead-letter queue), and the overview
// counts expired and finished rows, and the rows of another
// job_schema_version (Que 1.x's, which neither Que 2 nor qg's workers take)
// in a column of their own, so none goes unseen. Everything is rendered on the server with
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
// job, retry every job of a filtered list, snooze a job (put it off by a
// chosen time, no failure counted), cancel a job, and pause or resume a
// queue for qg's workers in every process ([qg.Client.PauseQueue]; Ruby
// workers do not know of pauses). Cancel is the one action that reaches a
// job a worker holds, as the explicit way to stop it: a queued job never
// runs (removed from a Que 0.x table, expired on a 2.x one), a running one
// is stopped by the qg worker holding it ([qg.Client.CancelJob]).
//
// The handler logs nothing but failures, and never a database URL: it is
// given a Client, not credentials.
package web
