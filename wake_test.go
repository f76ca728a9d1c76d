package qg

import (
	"fmt"
	"testing"
	"time"
)

func TestEnqueueWakesIdleWorker(t *testing.T) {
	_, q := setup(t)
	wc := appClient(t, "qg_wake_test")
	worked := make(chan struct{})
	w := newTestWorker(wc, q, WorkMap{"x": func(*Job) error { close(worked); return nil }})
	w.Interval = time.Hour // only a wake-up can end the test
	go w.Work()
	defer w.Shutdown()
	waitPolled(t, "qg_wake_test", 1)
	if err := wc.Enqueue(&Job{Queue: q, Type: "x"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-worked:
	case <-time.After(30 * time.Second):
		t.Fatal("the idle worker was not woken by Enqueue")
	}
}

// waitPolled waits until n sessions of application app have finished a walk
// of the queue and gone idle: their workers found nothing and sleep.
func waitPolled(t *testing.T, app string, n int) {
	t.Helper()
	waitForCount(t, fmt.Sprintf("%d workers to poll", n), func(idle int) bool { return idle >= n }, `SELECT count(*) FROM pg_stat_activity
WHERE application_name = $1 AND state = 'idle' AND query LIKE '/* qg:lock_job%'`, app)
}
