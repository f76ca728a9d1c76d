package qgotel_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/contrib/qgotel"
	"github.com/qg-go/qg/internal/pgtest"
	"github.com/qg-go/qg/internal/qgtest"
)

// que2Client returns a Client on a database of the test's own holding a
// Ruby Que 2.x table, and the pool under it.
func que2Client(t *testing.T) (*qg.Client, *sql.DB) {
	t.Helper()
	url, drop, err := pgtest.CreateDatabase(pgtest.AdminURL(), pgtest.Name("qgotel_que2"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := qg.MigrateQue2(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	c, _ := qgtest.Setup(t, db)
	return c, db
}

// workOne works one job of queue q with tel and a WorkFunc for class.
func workOne(t *testing.T, c *qg.Client, tel *telemetry, q, class string) {
	t.Helper()
	w := qg.NewWorker(c, qg.WorkMap{class: func(*qg.Job) error { return nil }})
	w.Queue = q
	w.Middleware = []qg.Middleware{tel.Work}
	if !w.WorkOne() {
		t.Fatal("no job worked")
	}
}

// TestTraceAcrossAQue2Table checks, on a Ruby Que 2.x table, that a job's
// data carries its enqueue span's trace context beside its tags and other
// keys, that its work span continues that trace (or links to it), and that
// a row a Ruby producer inserted with qg_trace in its data is continued too.
func TestTraceAcrossAQue2Table(t *testing.T) {
	c, db := que2Client(t)
	app := sdktrace.NewTracerProvider().Tracer("app")
	for _, link := range []bool{false, true} {
		tel := newTelemetry(t, qgotel.DataCarrier{}, link)
		c.EnqueueMiddleware = []qg.EnqueueMiddleware{tel.Enqueue}
		ctx, request := app.Start(context.Background(), "request")
		j := &qg.Job{Queue: "traced", Type: "Traced", Tags: []string{"eu"}, Data: []byte(`{"k": 1}`)}
		if err := c.EnqueueContext(ctx, j); err != nil {
			t.Fatal(err)
		}
		request.End()
		send := tel.span(t, "send Traced")
		var traceparent, k, tags string
		err := db.QueryRow(`SELECT data->$2->>'traceparent', data->>'k', data->>'tags' FROM que_jobs WHERE id = $1`,
			j.ID, qgotel.TraceKey).Scan(&traceparent, &k, &tags)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(traceparent, send.SpanContext().SpanID().String()) || k != "1" || tags != `["eu"]` {
			t.Errorf("stored data: traceparent %q k %q tags %q, want the send span %v, k 1, tags [eu]",
				traceparent, k, tags, send.SpanContext().SpanID())
		}
		workOne(t, c, tel, "traced", "Traced")
		process := tel.span(t, "process Traced")
		wantContinued(t, process, send.SpanContext(), link)
	}

	// A Ruby producer writes the key itself.
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	_, err := db.Exec(`INSERT INTO que_jobs (queue, job_class, args, kwargs, data, job_schema_version)
VALUES ('from_ruby', 'FromRuby', '[]', '{}', $1, 2)`,
		`{"tags": ["ruby"], "qg_trace": {"traceparent": "00-`+traceID+`-`+spanID+`-01"}}`)
	if err != nil {
		t.Fatal(err)
	}
	tel := newTelemetry(t, qgotel.DataCarrier{}, false)
	workOne(t, c, tel, "from_ruby", "FromRuby")
	process := tel.span(t, "process FromRuby")
	if process.SpanContext().TraceID().String() != traceID || process.Parent().SpanID().String() != spanID {
		t.Errorf("work span of a Ruby-enqueued job: trace %v parent %v, want %s and %s",
			process.SpanContext().TraceID(), process.Parent().SpanID(), traceID, spanID)
	}
}

// wantContinued checks that process continues the trace of send (its remote
// child), or with link starts its own trace linked to send.
func wantContinued(t *testing.T, process sdktrace.ReadOnlySpan, send trace.SpanContext, link bool) {
	t.Helper()
	sameTrace := process.SpanContext().TraceID() == send.TraceID()
	if !link && (!sameTrace || process.Parent().SpanID() != send.SpanID() || !process.Parent().IsRemote()) {
		t.Errorf("work span: trace %v parent %v, want the child of the send span %v",
			process.SpanContext().TraceID(), process.Parent().SpanID(), send.SpanID())
	}
	if link && (sameTrace || process.Parent().IsValid() || len(process.Links()) != 1 ||
		process.Links()[0].SpanContext.SpanID() != send.SpanID()) {
		t.Errorf("linked work span: same trace %v, parent %v, links %v", sameTrace, process.Parent(), process.Links())
	}
}

// TestDataCarrierOnAQue0Table checks what its doc says of a Que 0.x table:
// it has no data column, so an enqueue through DataCarrier is refused with
// qg.ErrNeedsQue2, and a job enqueued without one starts a trace of its own.
func TestDataCarrierOnAQue0Table(t *testing.T) {
	c, q := setup(t)
	tel := newTelemetry(t, qgotel.DataCarrier{}, false)
	c.EnqueueMiddleware = []qg.EnqueueMiddleware{tel.Enqueue}
	ctx, request := sdktrace.NewTracerProvider().Tracer("app").Start(context.Background(), "request")
	defer request.End()
	if err := c.EnqueueContext(ctx, &qg.Job{Queue: q, Type: "Plain"}); !errors.Is(err, qg.ErrNeedsQue2) {
		t.Fatalf("enqueue with trace data on a 0.x table: %v, want ErrNeedsQue2", err)
	}
	c.EnqueueMiddleware = nil
	if err := c.EnqueueContext(ctx, &qg.Job{Queue: q, Type: "Plain"}); err != nil {
		t.Fatal(err)
	}
	workOne(t, c, tel, q, "Plain")
	if p := tel.span(t, "process Plain"); p.Parent().IsValid() || p.SpanContext().TraceID() == request.SpanContext().TraceID() {
		t.Errorf("work span on a 0.x table has parent %v in trace %v", p.Parent(), p.SpanContext().TraceID())
	}
}
