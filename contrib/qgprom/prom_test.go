package qgprom_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/contrib/qgprom"
)

// TestMetricsOfEachOutcome works a job that succeeds, one that fails, one
// that panics, one given up and one of an unknown class, and checks the
// counters, histograms and gauge.
func TestMetricsOfEachOutcome(t *testing.T) {
	c, q := setup(t)
	m := qgprom.New(qgprom.Config{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	for i, class := range []string{"Ok", "Fails", "Panics", "GivesUp", "Nobody"} {
		j := &qg.Job{Queue: q, Type: class, Priority: int16(i + 1)}
		if class == "Ok" {
			j.RunAt = time.Now().Add(-time.Hour)
		}
		if err := c.Enqueue(j); err != nil {
			t.Fatal(err)
		}
	}
	var inFlight float64
	w := qg.NewWorker(c, qg.WorkMap{
		"Ok": func(*qg.Job) error {
			inFlight = gaugeValue(t, reg, q)
			return nil
		},
		"Fails":   func(*qg.Job) error { return errors.New("card declined") },
		"Panics":  func(*qg.Job) error { panic("oh no") },
		"GivesUp": func(*qg.Job) error { return qg.GiveUp(errors.New("never")) },
	})
	w.Queue = q
	w.Middleware = []qg.Middleware{m.Work}
	for range 5 {
		if !w.WorkOne() {
			t.Fatal("no job worked")
		}
	}
	if inFlight != 1 {
		t.Errorf("in flight during a job: %v, want 1", inFlight)
	}
	want := `
# HELP qg_jobs_failed_total Job failures recorded; each such job runs again.
# TYPE qg_jobs_failed_total counter
qg_jobs_failed_total{job_class="Fails",queue="Q"} 1
qg_jobs_failed_total{job_class="Panics",queue="Q"} 1
qg_jobs_failed_total{job_class="_unknown",queue="Q"} 1
# HELP qg_jobs_given_up_total Jobs given up.
# TYPE qg_jobs_given_up_total counter
qg_jobs_given_up_total{job_class="GivesUp",queue="Q"} 1
# HELP qg_jobs_in_flight Jobs being worked.
# TYPE qg_jobs_in_flight gauge
qg_jobs_in_flight{queue="Q"} 0
# HELP qg_jobs_worked_total Jobs whose work committed.
# TYPE qg_jobs_worked_total counter
qg_jobs_worked_total{job_class="Ok",queue="Q"} 1
`
	compare(t, reg, q, want, "qg_jobs_worked_total", "qg_jobs_failed_total", "qg_jobs_given_up_total", "qg_jobs_in_flight")
	// One duration per WorkFunc run (none for the unknown class), one
	// pickup delay per job.
	if n := testutil.CollectAndCount(m, "qg_job_duration_seconds"); n != 4 {
		t.Errorf("%d duration series, want 4", n)
	}
	if n := testutil.CollectAndCount(m, "qg_job_pickup_delay_seconds"); n != 5 {
		t.Errorf("%d pickup delay series, want 5", n)
	}
	if count, sum := histogramOf(t, reg, "qg_job_pickup_delay_seconds", q, "Ok"); count != 1 || sum < time.Hour.Seconds() {
		t.Errorf("pickup delay of a job due an hour ago: count %d, sum %v s", count, sum)
	}
	for _, class := range []string{"Ok", "Fails", "Panics", "GivesUp"} {
		if count, _ := histogramOf(t, reg, "qg_job_duration_seconds", q, class); count != 1 {
			t.Errorf("duration of %s: count %d, want 1", class, count)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// TestMetricsUnderAPool works many jobs with a pool of workers sharing one
// Metrics, in the default and the batch locking mode, and checks that
// every job is counted once.
func TestMetricsUnderAPool(t *testing.T) {
	for _, batch := range []int{0, 8} {
		t.Run(fmt.Sprintf("batch_%d", batch), func(t *testing.T) { metricsUnderAPool(t, batch) })
	}
}

func metricsUnderAPool(t *testing.T, batch int) {
	c, q := setup(t)
	m := qgprom.New(qgprom.Config{Namespace: "app"})
	const n = 60
	jobs := make([]*qg.Job, n)
	for i := range jobs {
		jobs[i] = &qg.Job{Queue: q, Type: "Ok"}
		if i%3 == 0 {
			jobs[i].Type = "Fails"
		}
	}
	if err := c.EnqueueBatch(t.Context(), jobs); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ran := 0
	done := make(chan struct{})
	count := func() {
		mu.Lock()
		defer mu.Unlock()
		if ran++; ran == n {
			close(done)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	p := qg.NewWorkerPool(c, qg.WorkMap{
		"Ok":    func(*qg.Job) error { count(); return nil },
		"Fails": func(*qg.Job) error { count(); return qg.GiveUp(errors.New("no")) },
	}, 4)
	p.Queue = q
	p.Interval = 10 * time.Millisecond
	p.Batch = batch
	p.Middleware = []qg.Middleware{m.Work}
	p.Start()
	select {
	case <-done:
	case <-time.After(time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("only %d of %d jobs ran", ran, n)
	}
	p.Shutdown()
	want := `
# HELP app_jobs_given_up_total Jobs given up.
# TYPE app_jobs_given_up_total counter
app_jobs_given_up_total{job_class="Fails",queue="Q"} 20
# HELP app_jobs_in_flight Jobs being worked.
# TYPE app_jobs_in_flight gauge
app_jobs_in_flight{queue="Q"} 0
# HELP app_jobs_worked_total Jobs whose work committed.
# TYPE app_jobs_worked_total counter
app_jobs_worked_total{job_class="Ok",queue="Q"} 40
`
	compare(t, reg, q, want, "app_jobs_worked_total", "app_jobs_given_up_total", "app_jobs_in_flight")
	if count, _ := histogramOf(t, reg, "app_job_duration_seconds", q, "Ok"); count != 40 {
		t.Errorf("durations of Ok: %d, want 40", count)
	}
}

// compare checks the metrics names of reg against the exposition text
// want, in which queue "Q" stands for q.
func compare(t *testing.T, reg prometheus.Gatherer, q, want string, names ...string) {
	t.Helper()
	err := testutil.GatherAndCompare(reg, strings.NewReader(strings.ReplaceAll(want, `"Q"`, `"`+q+`"`)), names...)
	if err != nil {
		t.Error(err)
	}
}

// family returns the metric family name of reg's current values.
func family(t *testing.T, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// hasLabels reports whether metric has the label values want.
func hasLabels(metric *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range metric.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want) && len(metric.GetLabel()) == n
}

// gaugeValue is qg_jobs_in_flight of queue q, -1 when absent.
func gaugeValue(t *testing.T, reg prometheus.Gatherer, q string) float64 {
	t.Helper()
	for _, metric := range family(t, reg, "qg_jobs_in_flight").GetMetric() {
		if hasLabels(metric, map[string]string{"queue": q}) {
			return metric.GetGauge().GetValue()
		}
	}
	return -1
}

// histogramOf is the sample count and sum of histogram name for queue q
// and class.
func histogramOf(t *testing.T, reg prometheus.Gatherer, name, q, class string) (uint64, float64) {
	t.Helper()
	for _, metric := range family(t, reg, name).GetMetric() {
		if hasLabels(metric, map[string]string{"queue": q, "job_class": class}) {
			h := metric.GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	return 0, 0
}
