package qgprom_test

import (
	"database/sql"
	"fmt"
	"os"

	_ "github.com/jackc/pgx/v4/stdlib" // the "pgx" database/sql driver
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/contrib/qgprom"
)

// Export a Worker's job metrics to Prometheus. A program registers the
// Metrics on its registry (prometheus.MustRegister for the default one)
// and serves it with promhttp; this example gathers it to print it.
func Example() {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	c, err := qg.NewClient2(db)
	if err != nil {
		panic(err)
	}
	defer c.Close()

	m := qgprom.New(qgprom.Config{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)

	if err := c.Enqueue(&qg.Job{Queue: "example_prom", Type: "SendWelcome"}); err != nil {
		panic(err)
	}
	w := qg.NewWorker(c, qg.WorkMap{"SendWelcome": func(*qg.Job) error { return nil }})
	w.Queue = "example_prom"
	w.Middleware = append(w.Middleware, m.Work)
	w.WorkOne()

	families, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			switch {
			case metric.GetCounter() != nil:
				fmt.Println(f.GetName(), metric.GetCounter().GetValue())
			case metric.GetGauge() != nil:
				fmt.Println(f.GetName(), metric.GetGauge().GetValue())
			case metric.GetHistogram() != nil:
				fmt.Println(f.GetName(), "count", metric.GetHistogram().GetSampleCount())
			}
		}
	}
	// Output:
	// qg_job_duration_seconds count 1
	// qg_job_pickup_delay_seconds count 1
	// qg_jobs_in_flight 0
	// qg_jobs_worked_total 1
}
