// Command pagetimes times the dashboard's pages on a big que_jobs table:
// it serves package web's handler of the database it is given, loads each
// page a number of times through HTTP (the whole page: the queries, the
// template, the bytes), and prints the median and the spread of each with
// the machine's load average. With -fill N it first makes the table
// (Que 0.x, or Ruby Que 2.x with -que 2) and fills it with N jobs of eight
// queues, sixteen classes and every state.
//
//	go run ./web/internal/pagetimes -database-url postgres://... -fill 1000000 -que 2
//
// It never writes to a table it did not fill; timings are for notes, never
// for assertions.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v4/stdlib" // the "pgx" driver

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/web"
)

func main() {
	dbURL := flag.String("database-url", os.Getenv("QG_DATABASE_URL"), "the database `URL`")
	fill := flag.Int("fill", 0, "make que_jobs and fill it with `N` jobs first (the database must have no que_jobs)")
	que := flag.Int("que", 0, "with -fill, the table to make: 0 (Que 0.x) or 2 (Ruby Que 2.x)")
	loads := flag.Int("loads", 20, "loads of each page")
	flag.Parse()
	if err := run(*dbURL, *fill, *que, *loads); err != nil {
		fmt.Fprintln(os.Stderr, "pagetimes:", err)
		os.Exit(1)
	}
}

// run fills the table if asked, then times the pages.
func run(dbURL string, fill, que, loads int) error {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if fill > 0 {
		start := time.Now()
		if err := fillTable(context.Background(), db, que, fill); err != nil {
			return err
		}
		fmt.Printf("filled %d jobs in %s\n", fill, time.Since(start).Round(time.Millisecond))
	}
	c, err := qg.NewClient2(db)
	if err != nil {
		return err
	}
	defer c.Close()
	h, err := web.New(c, web.Config{})
	if err != nil {
		return err
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM que_jobs`).Scan(&rows); err != nil {
		return err
	}
	id, err := middleJob(db, c.SchemaVersion())
	if err != nil {
		return err
	}
	fmt.Printf("que_jobs: schema version %d, %d rows; %d loads a page\n", c.SchemaVersion(), rows, loads)
	fmt.Printf("%-44s %9s %9s %9s %9s  %s\n", "page", "p50", "p90", "min", "max", "load average (1, 5, 15 min) before → after")
	for _, p := range pages(id) {
		if err := timePage(srv, p, loads); err != nil {
			return err
		}
	}
	return nil
}

// page is one page to time.
type page struct{ name, path string }

// pages are the pages timed: the overview, the job list unfiltered and
// filtered (a queue, a class, a state; a later page of it; a filter no job
// matches, which reads the whole table), a job's page, the metrics.
func pages(id int64) []page {
	return []page{
		{"overview", "/"},
		{"list, unfiltered", "/jobs"},
		{"list, unfiltered, page after job 500000", "/jobs?after=500000"},
		{"list, queue=billing", "/jobs?queue=billing"},
		{"list, queue=billing class=Billing::Charge", "/jobs?queue=billing&class=Billing::Charge"},
		{"list, queue=reports state=retrying", "/jobs?queue=reports&state=retrying"},
		{"list, queue=mailers state=retrying (none)", "/jobs?queue=mailers&state=retrying"},
		{"list, state=ready", "/jobs?state=ready"},
		{"job page", fmt.Sprintf("/jobs/%d", id)},
		{"metrics", "/metrics"},
	}
}

// timePage loads p n times (after one load to warm up) and prints its line.
func timePage(srv *httptest.Server, p page, n int) error {
	before := loadavg()
	if _, err := load(srv, p.path); err != nil {
		return err
	}
	took := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		d, err := load(srv, p.path)
		if err != nil {
			return err
		}
		took = append(took, d)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
	fmt.Printf("%-44s %9s %9s %9s %9s  %s → %s\n", p.name, ms(took[len(took)/2]), ms(took[len(took)*9/10]),
		ms(took[0]), ms(took[len(took)-1]), before, loadavg())
	return nil
}

// load gets path and reads the whole answer, which must be a 200.
func load(srv *httptest.Server, path string) (time.Duration, error) {
	start := time.Now()
	res, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", path, res.Status)
	}
	return time.Since(start), nil
}

// loadavg is the machine's load average, as /proc/loadavg says it.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// middleJob is the job in the middle of the table, for the job page.
func middleJob(db *sql.DB, schema int) (int64, error) {
	col := "job_id"
	if schema == 7 {
		col = "id"
	}
	var id sql.NullInt64
	err := db.QueryRow(`SELECT (min(` + col + `) + max(` + col + `)) / 2 FROM que_jobs`).Scan(&id)
	return id.Int64, err
}
