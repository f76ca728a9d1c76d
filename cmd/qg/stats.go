package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/qg-go/qg"
)

var statsCommand = &command{
	name:     "stats",
	summary:  "count jobs per queue and job class, and show who is working what",
	synopsis: "stats [--watch [--interval DURATION] [--times N]] [--database-url URL] [--json]",
	usage: `
Stats counts the jobs of que_jobs per queue and job class: how many, how many
are being worked, how many have failed, the highest error count and the
earliest run_at. Given-up jobs are in the queues named qg:dead:<queue>.

It then lists the jobs being worked right now: those whose job lock (a
session advisory lock keyed by job_id) a session of this database holds,
whether a Go or a Ruby worker took it, with that session's pid,
application_name, client address, role, state, and when the session started:
a job has been locked for at most as long as its session (SESSION AGE).
Seeing the client address of another role's sessions needs the
pg_read_all_stats role or superuser; without it they show as "-".

With --watch it refreshes every --interval until interrupted (Ctrl-C) or
--times refreshes: a terminal gets the screen redrawn, and --json one JSON
object a line.`,
	setup: setupStats,
}

// statsFlags are the flags of stats.
type statsFlags struct {
	watch    bool
	interval string
	times    int
}

// setupStats defines the flags of stats.
func setupStats(fs *flag.FlagSet) runner {
	f := &statsFlags{}
	fs.BoolVar(&f.watch, "watch", false, "refresh until interrupted")
	fs.StringVar(&f.interval, "interval", "2s", "with --watch: refresh every `DURATION`")
	fs.IntVar(&f.times, "times", 0, "with --watch: stop after `N` refreshes (0: until interrupted)")
	return func(ctx context.Context, e *env, opts *options) error {
		if !f.watch {
			return runStats(ctx, e, opts)
		}
		return watchStats(ctx, e, opts, f)
	}
}

// clearScreen moves a terminal's cursor home and clears the screen.
const clearScreen = "\x1b[H\x1b[2J"

// watchStats prints the stats every interval, until ctx ends or f.times
// refreshes were printed.
func watchStats(ctx context.Context, e *env, opts *options, f *statsFlags) error {
	every, err := parseDuration(f.interval)
	if err != nil || every <= 0 {
		return usagef("--interval %q: want a positive duration, like 2s", f.interval)
	}
	if f.times < 0 {
		return usagef("--times %d: want 0 (until interrupted) or more", f.times)
	}
	db, err := openDB(ctx, e, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 1; ; n++ {
		res, err := collectStats(ctx, db)
		if err != nil {
			return err
		}
		if opts.json {
			err = writeJSONLine(e.stdout, res)
		} else {
			fmt.Fprintf(e.stdout, "%sEvery %s: qg stats (%s)\n\n", clearScreen, every, formatTime(time.Time(res.Now)))
			err = res.printText(e.stdout)
		}
		if err != nil || n == f.times {
			return err
		}
		select {
		case <-ctx.Done():
			return nil // interrupted: the usual way to stop watching
		case <-tick.C:
		}
	}
}

// workingQuery lists the jobs whose job lock a session of this database
// holds, with what pg_stat_activity knows of that session. pg_locks is
// cluster-wide: job locks are the granted one-bigint advisory locks
// (objsubid 1) of the current database, keyed by job_id.
const workingQuery = `/* qg-cli:working */ SELECT j.job_id, j.queue, j.job_class, j.error_count,
  l.pid, a.application_name, host(a.client_addr), a.client_port, a.usename,
  a.backend_start, a.state, a.query_start
FROM pg_locks AS l
JOIN que_jobs AS j ON j.job_id = (l.classid::bigint << 32) + l.objid::bigint
LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY j.queue, j.job_id`

// statsResult is what stats prints.
type statsResult struct {
	Now     timestamp    `json:"now"` // the server's clock
	Queues  []queueStats `json:"queues"`
	Working []workingJob `json:"working"`
	// Table counts, on a Ruby Que 2.x table, the rows Queues leaves out.
	Table *qg.TableStats `json:"table,omitempty"`
}

// queueStats counts the jobs of one queue and job class.
type queueStats struct {
	Queue             string    `json:"queue"`
	JobClass          string    `json:"job_class"`
	Count             int       `json:"count"`
	CountWorking      int       `json:"count_working"`
	CountErrored      int       `json:"count_errored"`
	HighestErrorCount int       `json:"highest_error_count"`
	OldestRunAt       timestamp `json:"oldest_run_at"`
}

// workingJob is a job being worked and the session that holds its lock.
// The session's fields are null when pg_stat_activity does not show them.
type workingJob struct {
	JobID           int64      `json:"job_id"`
	Queue           string     `json:"queue"`
	JobClass        string     `json:"job_class"`
	ErrorCount      int        `json:"error_count"`
	PID             int        `json:"pid"`
	ApplicationName *string    `json:"application_name"`
	ClientAddr      *string    `json:"client_addr"` // null for a Unix socket
	ClientPort      *int       `json:"client_port"`
	User            *string    `json:"user"`
	BackendStart    *time.Time `json:"backend_start"` // the lock is at most this old
	State           *string    `json:"state"`
	QueryStart      *time.Time `json:"query_start"`
}

// runStats prints the counts and the jobs being worked.
func runStats(ctx context.Context, e *env, opts *options) error {
	db, err := openDB(ctx, e, opts)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := collectStats(ctx, db)
	if err != nil {
		return err
	}
	return render(e, opts, res)
}

// collectStats reads the counts through qg.Client.Stats, then the jobs
// being worked.
func collectStats(ctx context.Context, db *sql.DB) (*statsResult, error) {
	c, err := newClient(db)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stats, err := c.StatsContext(ctx)
	if err != nil {
		return nil, err
	}
	res := &statsResult{Queues: make([]queueStats, 0, len(stats))}
	for _, s := range stats {
		res.Queues = append(res.Queues, queueStats{s.Queue, s.Type, s.Count, s.CountWorking,
			s.CountErrored, s.HighestErrorCount, timestamp(s.OldestRunAt)})
	}
	var now time.Time
	if err := db.QueryRowContext(ctx, `SELECT now()`).Scan(&now); err != nil {
		return nil, fmt.Errorf("read the server's clock: %w", err)
	}
	res.Now = timestamp(now)
	query := workingQuery
	if c.SchemaVersion() == 7 { // the Ruby Que 2.x table: public.que_jobs, keyed by id
		query = strings.Replace(strings.Replace(query, "j.job_id", "j.id", -1), "JOIN que_jobs", "JOIN public.que_jobs", 1)
		table, err := c.TableStatsContext(ctx)
		if err != nil {
			return nil, err
		}
		res.Table = &table
	}
	if res.Working, err = workingJobs(ctx, db, query); err != nil {
		return nil, err
	}
	return res, nil
}

// workingJobs lists the jobs being worked (workingQuery).
func workingJobs(ctx context.Context, db *sql.DB, query string) ([]workingJob, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("list the jobs being worked: %w", err)
	}
	defer rows.Close()
	jobs := []workingJob{}
	for rows.Next() {
		w, err := scanWorking(rows)
		if err != nil {
			return nil, fmt.Errorf("list the jobs being worked: %w", err)
		}
		jobs = append(jobs, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the jobs being worked: %w", err)
	}
	return jobs, nil
}

// scanWorking reads one row of workingQuery.
func scanWorking(rows *sql.Rows) (workingJob, error) {
	var w workingJob
	var app, addr, user, state sql.NullString
	var port sql.NullInt32
	var started, queried sql.NullTime
	err := rows.Scan(&w.JobID, &w.Queue, &w.JobClass, &w.ErrorCount, &w.PID,
		&app, &addr, &port, &user, &started, &state, &queried)
	w.ApplicationName, w.ClientAddr, w.User, w.State = nullString(app), nullString(addr), nullString(user), nullString(state)
	if port.Valid && port.Int32 >= 0 { // -1: a Unix socket
		p := int(port.Int32)
		w.ClientPort = &p
	}
	w.BackendStart, w.QueryStart = nullTime(started), nullTime(queried)
	return w, err
}

// nullString is s's value, or nil when it is NULL.
func nullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

// nullTime is t's value, or nil when it is NULL.
func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}
