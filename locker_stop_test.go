//go:build linux

package qg

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// TestBatchShutdownDoesNotSpin: WorkerPool.Shutdown of a batch pool
// (Batch > 0) stops the locker, which then loops until the running jobs are
// done (locker.run). Each turn ended in l.wait, which returned at once
// because one of the channels it waited on, l.stopping, stays closed: the
// locker spun on a core for as long as the slowest running job took. Here
// one job sleeps a second during Shutdown, and the process's CPU time over
// that second must stay well under a quarter of it (the spin used nearly
// all of it; a locker that waits uses a few milliseconds).
func TestBatchShutdownDoesNotSpin(t *testing.T) {
	_, client, url := migratedScratch(t)
	if err := client.EnqueueContext(context.Background(), &Job{Type: "Test", Queue: "batchtest"}); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	pool, _ := batchPool(t, url, func(*Job) error {
		close(started)
		time.Sleep(time.Second)
		return nil
	})
	pool.Start()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the job did not start")
	}
	cpu0, wall0 := cpuTime(t), time.Now()
	pool.Shutdown()
	cpu, wall := cpuTime(t)-cpu0, time.Since(wall0)
	t.Logf("Shutdown took %s, using %s of CPU", wall.Round(time.Millisecond), cpu.Round(time.Millisecond))
	if cpu > wall/4 {
		t.Errorf("Shutdown spent %s of CPU in %s waiting for one sleeping job", cpu.Round(time.Millisecond), wall.Round(time.Millisecond))
	}
}

// cpuTime is the CPU time the process used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
