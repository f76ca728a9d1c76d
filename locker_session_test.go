package qg

import (
	"context"
	"testing"
	"time"
)

// TestBatchLockerNoticesLostSession guards the locker's check of its session.
//
// The batch locker found out that its session was gone only when it next
// used it (locker.cycle, locker.go): when a job finished, or when it had
// room to lock more (fewer than workers/2 jobs waiting). Until then it
// cancelled none of the jobs whose locks went with the session (locker.fail),
// though they may run elsewhere now. With every worker busy and enough jobs
// waiting, that lasts as long as the running jobs do: the run goes on with
// a live context while another worker locks and runs the same job. (Its
// work in Job.Tx still cannot commit twice: the job's deletion in that
// transaction fences it. Work outside the database is done twice.)
//
// Here a pool of one worker and Batch 2 locks two jobs; the first runs and
// waits on its context, the second waits for the worker. The test ends the
// locker's session, another client locks the first job, and the run's
// context was still live a second later, fifty of the pool's intervals. Now
// the locker pings its session at each idle turn while it holds locks, and
// cancels the run within an interval or so.
func TestBatchLockerNoticesLostSession(t *testing.T) {
	db, client, url := migratedScratch(t)
	for range 2 {
		if err := client.EnqueueContext(context.Background(), &Job{Type: "Test", Queue: "batchtest"}); err != nil {
			t.Fatal(err)
		}
	}
	running := make(chan *Job, 2)
	cancelled := make(chan bool, 2)
	pool, _ := batchPool(t, url, func(j *Job) error {
		running <- j
		select {
		case <-j.Context().Done():
			cancelled <- true
		case <-time.After(time.Second):
			cancelled <- false
		}
		return nil
	})
	pool.Batch = 2
	pool.Start()
	defer pool.Shutdown()
	var first *Job
	select {
	case first = <-running:
	case <-time.After(5 * time.Second):
		t.Fatal("no job started")
	}
	var ended bool
	err := db.QueryRow(`SELECT pg_terminate_backend(pid) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND (classid::bigint << 32) + objid::bigint = $1
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, // pg_locks is cluster-wide
		first.ID).Scan(&ended)
	if err != nil || !ended {
		t.Fatalf("end the locker's session: %v, %v", ended, err)
	}
	other := lockWithin(t, client, "batchtest", time.Second)
	if other == nil {
		t.Fatal("no other client could lock a job after the locker's session ended")
	}
	defer other.Done()
	if !<-cancelled {
		t.Errorf("job %d ran on with a live context for a second after its lock went with the locker's session; "+
			"meanwhile another client locked job %d", first.ID, other.ID)
	}
}
