package qgotel_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	_ "github.com/jackc/pgx/v4/stdlib" // the "pgx" database/sql driver
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/contrib/qgotel"
)

// Trace and measure a Client's enqueues and a Worker's jobs. A program
// passes its own providers (or none: the global ones); this example keeps
// its spans and metrics in memory to print them.
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

	spans := tracetest.NewSpanRecorder()
	metrics := sdkmetric.NewManualReader()
	tel, err := qgotel.New(qgotel.Config{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics)),
	})
	if err != nil {
		panic(err)
	}
	c.EnqueueMiddleware = append(c.EnqueueMiddleware, tel.Enqueue)

	if err := c.Enqueue(&qg.Job{Queue: "example_otel", Type: "SendWelcome"}); err != nil {
		panic(err)
	}
	w := qg.NewWorker(c, qg.WorkMap{
		"SendWelcome": func(j *qg.Job) error {
			// j.Context() carries the job's span: pass it on.
			return nil
		},
	})
	w.Queue = "example_otel"
	w.Middleware = append(w.Middleware, tel.Work)
	w.WorkOne()

	for _, s := range spans.Ended() {
		fmt.Println("span:", s.Name(), s.SpanKind())
	}
	var rm metricdata.ResourceMetrics
	if err := metrics.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == qgotel.MetricWorked {
			fmt.Println("metric:", m.Name, sum.DataPoints[0].Value)
		}
	}
	// Output:
	// span: send SendWelcome producer
	// span: process SendWelcome consumer
	// metric: qg.jobs.worked 1
}
