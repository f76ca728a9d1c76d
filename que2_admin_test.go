package qg

import (
	"context"
	"encoding/json"
	"testing"
)

// TestQue2OperatorView checks Overview, FindJob, RetryJob and DeleteJob on
// a Ruby Que 2.x table: an expired job is in state expired and counted as
// such, a retry makes it runnable again, a finished one is left finished
// and counted, a row of job_schema_version 1 is counted and listed apart.
func TestQue2OperatorView(t *testing.T) {
	c, queue := setup2(t)
	db, _ := que2Shared(t)
	ctx := context.Background()
	ready := insertQue2Row(t, queue, "SendEmail", 0)
	expired := insertQue2Row(t, queue, "SendEmail", 16)
	finished := insertQue2Row(t, queue, "SendEmail", 0)
	failing := insertQue2Row(t, queue, "SendEmail", 2)
	other := insertQue2Row(t, queue, "SendEmail", 0)
	for _, stmt := range []struct {
		id  int64
		set string
	}{{expired, "expired_at = now()"}, {finished, "finished_at = now()"},
		{failing, "run_at = now() + interval '1 hour'"}, {other, "job_schema_version = 1"}} {
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
	if mine == nil || mine.Ready != 1 || mine.Scheduled != 1 || mine.Failing != 1 || mine.Expired != 1 || mine.GivenUp != 0 ||
		mine.Finished != 1 || mine.OtherVersion != 1 {
		t.Errorf("Overview of %s: %+v", queue, mine)
	}
	for id, want := range map[int64]JobState{ready: JobReady, expired: JobExpired, finished: JobFinished, failing: JobRetrying} {
		info, err := c.FindJob(ctx, id)
		if err != nil || info.State != want {
			t.Errorf("FindJob(%d): %+v, %v; want state %s", id, info, err, want)
		}
	}
	if info, err := c.FindJob(ctx, other); err != nil || info.JobSchemaVersion != 1 || info.State != JobOtherVersion {
		t.Errorf("FindJob(%d) of version 1: %+v, %v; want state %s", other, info, err, JobOtherVersion)
	}
	// The list agrees with the overview: the due row of version 1 is not
	// ready, as no worker takes it.
	for state, want := range map[JobState]int64{JobReady: ready, JobOtherVersion: other} {
		list, err := c.ListJobs(ctx, JobFilter{Queues: []string{queue}, State: state})
		if err != nil || len(list) != 1 || list[0].ID != want {
			t.Errorf("ListJobs(state %s) = %+v, %v; want job %d alone", state, list, err, want)
		}
	}
	for _, state := range []JobState{JobExpired, JobDead} {
		list, err := c.ListJobs(ctx, JobFilter{Queues: []string{queue}, State: state})
		if err != nil || len(list) != 1 || list[0].ID != expired || list[0].ExpiredAt == nil {
			t.Errorf("ListJobs(state %s) = %+v, %v; want job %d", state, list, err, expired)
		}
	}
	if err := c.RetryJob(ctx, expired); err != nil {
		t.Fatal(err)
	}
	if info, err := c.FindJob(ctx, expired); err != nil || info.State != JobReady || info.ErrorCount != 16 {
		t.Errorf("after RetryJob: %+v, %v", info, err)
	}
	for _, id := range []int64{ready, expired, finished, failing, other} {
		if err := c.DeleteJob(ctx, id); err != nil {
			t.Errorf("DeleteJob(%d): %v", id, err)
		}
	}
	if n := countQue2Jobs(t, queue); n != 0 {
		t.Errorf("%d rows left", n)
	}
}

// TestQue2JobInfoColumns writes the rows Ruby Que 2.4.1 wrote (kwargs and
// tags from enqueued.jsonl, a message and backtrace from failed.jsonl) and
// checks that FindJob and ListJobs return each column of them.
func TestQue2JobInfoColumns(t *testing.T) {
	c, queue := setup2(t)
	db, _ := que2Shared(t)
	ctx := context.Background()
	var tagged goldenEnqueued2
	for _, g := range readGoldenFile[goldenEnqueued2](t, golden2Dir, "enqueued.jsonl") {
		if g.Data != "{}" && g.Kwargs != "{}" && g.EnqueueError == "" {
			tagged = g
			break
		}
	}
	failed := readGoldenFile[goldenFailed2](t, golden2Dir, "failed.jsonl")[0]
	var id int64
	err := db.QueryRow(`INSERT INTO que_jobs (queue, job_class, args, kwargs, data, error_count,
  last_error_message, last_error_backtrace, expired_at, job_schema_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), $9) RETURNING id`, queue, tagged.JobClass, tagged.Args,
		tagged.Kwargs, tagged.Data, failed.ErrorCount, failed.LastErrorMessage, failed.LastErrorBacktrace,
		tagged.JobSchemaVersion).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.FindJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var tags struct{ Tags []string }
	if err := json.Unmarshal([]byte(tagged.Data), &tags); err != nil || len(tags.Tags) == 0 {
		t.Fatalf("golden line %q has no tags: %v", tagged.Ruby, err)
	}
	if string(info.Kwargs) != tagged.Kwargs || string(info.Data) != tagged.Data || string(info.Args) != tagged.Args ||
		len(info.Tags) != len(tags.Tags) || info.Tags[0] != tags.Tags[0] || info.JobSchemaVersion != 2 ||
		info.LastErrorBacktrace == nil || *info.LastErrorBacktrace != *failed.LastErrorBacktrace ||
		*info.LastError != *failed.LastErrorMessage || info.ExpiredAt == nil || info.FinishedAt != nil ||
		info.State != JobExpired {
		t.Errorf("FindJob of %q: %+v", tagged.Ruby, info)
	}
	list, err := c.ListJobs(ctx, JobFilter{Queues: []string{queue}})
	if err != nil || len(list) != 1 || string(list[0].Kwargs) != tagged.Kwargs || len(list[0].Tags) != len(tags.Tags) {
		t.Errorf("ListJobs: %+v, %v", list, err)
	}
}
