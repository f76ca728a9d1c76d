package qg

import (
	"context"
	"testing"
)

// TestQue2OperatorView checks Overview, FindJob, RetryJob and DeleteJob on
// a Ruby Que 2.x table: an expired job is dead and counted as expired, a
// retry makes it runnable again, a finished one is left finished.
func TestQue2OperatorView(t *testing.T) {
	c, queue := setup2(t)
	db, _ := que2Shared(t)
	ctx := context.Background()
	ready := insertQue2Row(t, queue, "SendEmail", 0)
	expired := insertQue2Row(t, queue, "SendEmail", 16)
	finished := insertQue2Row(t, queue, "SendEmail", 0)
	failing := insertQue2Row(t, queue, "SendEmail", 2)
	for _, stmt := range []struct {
		id  int64
		set string
	}{{expired, "expired_at = now()"}, {finished, "finished_at = now()"},
		{failing, "run_at = now() + interval '1 hour'"}} {
		if _, err := db.Exec(`UPDATE que_jobs SET `+stmt.set+` WHERE id = $1`, stmt.id); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := c.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mine *QueueCounts
	for i := range counts {
		if counts[i].Queue == queue {
			mine = &counts[i]
		}
	}
	if mine == nil || mine.Ready != 1 || mine.Scheduled != 1 || mine.Failing != 1 || mine.Expired != 1 || mine.GivenUp != 0 {
		t.Errorf("Overview of %s: %+v", queue, mine)
	}
	for id, want := range map[int64]JobState{ready: JobReady, expired: JobDead, finished: JobFinished, failing: JobRetrying} {
		info, err := c.FindJob(ctx, id)
		if err != nil || info.State != want {
			t.Errorf("FindJob(%d): %+v, %v; want state %s", id, info, err, want)
		}
	}
	if err := c.RetryJob(ctx, expired); err != nil {
		t.Fatal(err)
	}
	if info, err := c.FindJob(ctx, expired); err != nil || info.State != JobReady || info.ErrorCount != 16 {
		t.Errorf("after RetryJob: %+v, %v", info, err)
	}
	for _, id := range []int64{ready, expired, finished, failing} {
		if err := c.DeleteJob(ctx, id); err != nil {
			t.Errorf("DeleteJob(%d): %v", id, err)
		}
	}
	if n := countQue2Jobs(t, queue); n != 0 {
		t.Errorf("%d rows left", n)
	}
}
