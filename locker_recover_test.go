package qg

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestBatchWorkersAllBackAfterTerminations ends every session of a busy
// batch pool, twice, and checks that all its workers are back at work
// afterwards, as in the default mode. An independent crash run saw only a
// quarter to a half of a batch pool's workers working again 30 s after its
// sessions were ended.
func TestBatchWorkersAllBackAfterTerminations(t *testing.T) {
	for _, use := range []string{"plain", "Tx"} {
		t.Run(use, func(t *testing.T) {
			testBatchWorkersBack(t, use == "Tx")
		})
	}
}

func testBatchWorkersBack(t *testing.T, withTx bool) {
	const workers = 16
	c, q := setup(t)
	jobs := make([]*Job, 400)
	for i := range jobs {
		jobs[i] = &Job{Queue: q, Type: "Busy"}
	}
	if err := c.EnqueueBatch(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	var running concurrency
	p := NewWorkerPool(appClient(t, "qg_recover_test"), WorkMap{"Busy": func(j *Job) error {
		defer running.enter()()
		if withTx {
			if _, err := j.Tx().Exec(`SELECT 1`); err != nil {
				return err
			}
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-j.Context().Done():
		}
		return j.Context().Err()
	}}, workers)
	p.Queue, p.Interval, p.Batch = q, 20*time.Millisecond, workers
	p.Logger, _ = testLogger(t)
	p.Start()
	defer p.Shutdown()
	for round := range 2 {
		running.reset()
		eventually(t, fmt.Sprintf("all %d workers at work (round %d)", workers, round), func() bool {
			return running.peak() == workers
		})
		if _, err := testDB.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'qg_recover_test'`); err != nil {
			t.Fatal(err)
		}
	}
	running.reset()
	eventually(t, fmt.Sprintf("all %d workers at work after the terminations", workers), func() bool {
		return running.peak() == workers
	})
}

// concurrency counts the runs in progress and the most seen at once since
// the last reset.
type concurrency struct {
	mu        sync.Mutex
	now, most int
}

// enter counts a run in; the function it returns counts it out.
func (c *concurrency) enter() func() {
	c.mu.Lock()
	c.now++
	c.most = max(c.most, c.now)
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}
}

func (c *concurrency) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.most = c.now
}

func (c *concurrency) peak() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.most
}
