package qg

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks run against the test database. In CI they run once with
// -benchtime=1x so they never rot; for figures run for example
//
//	go test -run='^$' -bench=. -benchtime=2000x
//	go test -run='^$' -bench=Latency -benchtime=200x

func benchQueue(b *testing.B) string {
	b.Helper()
	q := fmt.Sprintf("bench_%s_%d", queueUnsafe.ReplaceAllString(b.Name(), "_"), time.Now().UnixNano())
	b.Cleanup(func() { _, _ = testDB.Exec(`DELETE FROM que_jobs WHERE queue = $1`, q) })
	return q
}

func benchClient(b *testing.B) *Client {
	b.Helper()
	c, err := NewClient2(testDB)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

// fill inserts n runnable jobs of type typ into queue in one statement.
func fill(b *testing.B, queue, typ string, n int) {
	b.Helper()
	_, err := testDB.Exec(`INSERT INTO que_jobs (queue, job_class, args)
SELECT $1, $2, '[]' FROM generate_series(1, $3)`, queue, typ, n)
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkEnqueue(b *testing.B) {
	c, q := benchClient(b), benchQueue(b)
	b.ResetTimer()
	for range b.N {
		if err := c.Enqueue(&Job{Queue: q, Type: "Bench", Args: []byte(`[1]`)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

func BenchmarkLockAndFinish(b *testing.B) {
	c, q := benchClient(b), benchQueue(b)
	fill(b, q, "Bench", b.N)
	w := NewWorker(c, WorkMap{"Bench": func(*Job) error { return nil }})
	w.Queue = q
	b.ResetTimer()
	for range b.N {
		if !w.WorkOne() {
			b.Fatal("no job")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

func BenchmarkPoolDrain(b *testing.B) {
	for _, mode := range []struct{ workers, batch int }{{4, 0}, {16, 0}, {4, 64}, {16, 128}} {
		workers := mode.workers
		b.Run(fmt.Sprintf("workers=%d/batch=%d", workers, mode.batch), func(b *testing.B) {
			c, q := benchClient(b), benchQueue(b)
			n := max(b.N, 100)
			fill(b, q, "Bench", n)
			var worked atomic.Int64
			done := make(chan struct{})
			p := NewWorkerPool(c, WorkMap{"Bench": func(*Job) error {
				if worked.Add(1) == int64(n) {
					close(done)
				}
				return nil
			}}, workers)
			p.Queue = q
			p.Interval = 10 * time.Millisecond
			p.Batch = mode.batch
			b.ResetTimer()
			p.Start()
			<-done
			b.StopTimer()
			p.Shutdown()
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// BenchmarkLatency measures enqueue-to-start latency with idle workers: the
// time from just before a producer's INSERT to the start of the WorkFunc.
// The producer is another Client (as another process would be), so only
// polling or a notification can wake the workers.
func BenchmarkLatency(b *testing.B) {
	for _, mode := range []string{"polling", "notified"} {
		b.Run(mode, func(b *testing.B) {
			benchLatency(b, mode == "notified")
		})
	}
}

func benchLatency(b *testing.B, notified bool) {
	ctx := context.Background()
	if notified {
		if err := InstallNotifyTrigger(ctx, testDB); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = RemoveNotifyTrigger(ctx, testDB) })
	}
	q, workers, producer := benchQueue(b), benchClient(b), benchClient(b)
	started := make(chan time.Time, 1)
	p := NewWorkerPool(workers, WorkMap{"Ping": func(*Job) error {
		started <- time.Now()
		return nil
	}}, 4)
	p.Queue = q
	p.Interval = time.Second
	p.Listen = notified
	p.Start()
	defer p.Shutdown()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := producer.Enqueue(&Job{Queue: q, Type: "Ping"}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-started).Sub(t0))
		time.Sleep(time.Duration(len(lat)%7) * 13 * time.Millisecond) // spread enqueues over the poll cycle
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
}

// percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func BenchmarkEnqueueBatch(b *testing.B) {
	c, q := benchClient(b), benchQueue(b)
	const size = 1000
	n := max(b.N, size)
	b.ResetTimer()
	for done := 0; done < n; done += size {
		jobs := make([]*Job, min(size, n-done))
		for i := range jobs {
			jobs[i] = &Job{Queue: q, Type: "Bench", Args: []byte(`[1]`)}
		}
		if err := c.EnqueueBatch(context.Background(), jobs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "jobs/s")
}
