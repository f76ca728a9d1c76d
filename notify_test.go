package qg

import (
	"context"
	"testing"
	"time"
)

func TestNotifyWakesPoolForRawInsert(t *testing.T) {
	_, q := setup(t)
	ctx := context.Background()
	if err := InstallNotifyTrigger(ctx, testDB); err != nil {
		t.Fatal(err)
	}
	if err := InstallNotifyTrigger(ctx, testDB); err != nil { // idempotent
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := RemoveNotifyTrigger(ctx, testDB); err != nil {
			t.Error(err)
		}
	})
	worked := make(chan struct{})
	pc := appClient(t, "qg_notify_test")
	p := NewWorkerPool(pc, WorkMap{"Ruby::Made": func(*Job) error { close(worked); return nil }}, 1)
	p.Queue = q
	p.Interval = time.Hour // only a notification can end the test
	p.Listen = true
	p.Start()
	defer p.Shutdown()
	waitListening(t)
	waitPolled(t, "qg_notify_test", 1)
	// Inserted by raw SQL, as a Ruby producer would: no in-process wake.
	if _, err := testDB.Exec(`INSERT INTO que_jobs (queue, job_class, args) VALUES ($1, 'Ruby::Made', '[1]')`, q); err != nil {
		t.Fatal(err)
	}
	select {
	case <-worked:
	case <-time.After(30 * time.Second):
		t.Fatal("the pool was not woken by the notification")
	}
}

// waitListening waits until a session LISTENs on qg's channel.
func waitListening(t *testing.T) {
	t.Helper()
	waitForCount(t, "a listener", func(n int) bool { return n > 0 },
		`SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN `+notifyChannel+`'`)
}
