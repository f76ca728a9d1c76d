package qg

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestListJobsFiltersAndPages checks ListJobs' queue, class and state
// filters, the states it reports, and keyset paging.
func TestListJobsFiltersAndPages(t *testing.T) {
	t.Parallel()
	c, queue := setup(t)
	ctx := context.Background()
	other := queue + "_other"
	ready := enqueue(t, c, &Job{Queue: queue, Type: "A", Args: MustArgs(1)})
	scheduled := enqueue(t, c, &Job{Queue: queue, Type: "B", RunAt: time.Now().Add(time.Hour)})
	retrying := enqueue(t, c, &Job{Queue: queue, Type: "A"})
	if _, err := testDB.Exec(`UPDATE que_jobs SET error_count = 2, last_error = 'boom',
  run_at = now() + interval '1 hour' WHERE job_id = $1`, retrying.ID); err != nil {
		t.Fatal(err)
	}
	dead := enqueue(t, c, &Job{Queue: DeadQueue(queue), Type: "A"})
	running := enqueue(t, c, &Job{Queue: other, Type: "A"})
	held := mustLock(t, c, other)
	defer held.Done()

	all, err := c.ListJobs(ctx, JobFilter{Queues: []string{queue, other, DeadQueue(queue)}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]JobState{ready.ID: JobReady, scheduled.ID: JobScheduled, retrying.ID: JobRetrying,
		dead.ID: JobDead, running.ID: JobRunning}
	if len(all) != len(want) {
		t.Fatalf("ListJobs returned %d jobs, want %d: %+v", len(all), len(want), all)
	}
	for i, info := range all {
		if info.State != want[info.ID] {
			t.Errorf("job %d: state %q, want %q", info.ID, info.State, want[info.ID])
		}
		if i > 0 && info.ID <= all[i-1].ID {
			t.Errorf("not in job_id order: %d after %d", info.ID, all[i-1].ID)
		}
	}
	if all[len(all)-1].WorkerPID != int(held.sess.pid) || all[0].WorkerPID != 0 {
		t.Errorf("worker pids %d and %d, want %d and 0", all[len(all)-1].WorkerPID, all[0].WorkerPID, held.sess.pid)
	}
	if string(all[0].Args) != `[1]` || all[0].Type != "A" || all[0].Priority != 100 {
		t.Errorf("first job read back as %+v", all[0])
	}

	for _, tc := range []struct {
		f    JobFilter
		want []int64
	}{
		{JobFilter{Queues: []string{queue}, Types: []string{"A"}}, []int64{ready.ID, retrying.ID}},
		{JobFilter{Queues: []string{queue}, State: JobScheduled}, []int64{scheduled.ID}},
		{JobFilter{Queues: []string{queue}, State: JobRetrying}, []int64{retrying.ID}},
		{JobFilter{Queues: []string{other}, State: JobRunning}, []int64{running.ID}},
		{JobFilter{Queues: []string{queue, DeadQueue(queue)}, State: JobDead}, []int64{dead.ID}},
		{JobFilter{Queues: []string{queue, DeadQueue(queue)}, State: JobExpired}, []int64{dead.ID}},
		{JobFilter{Queues: []string{queue}, Limit: 2}, []int64{ready.ID, scheduled.ID}},
		{JobFilter{Queues: []string{queue}, Limit: 2, AfterID: scheduled.ID}, []int64{retrying.ID}},
	} {
		got, err := c.ListJobs(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if ids := infoIDs(got); !equalIDs(ids, tc.want) {
			t.Errorf("ListJobs(%+v) = %v, want %v", tc.f, ids, tc.want)
		}
	}
}

func infoIDs(infos []JobInfo) []int64 {
	ids := []int64{}
	for _, info := range infos {
		ids = append(ids, info.ID)
	}
	return ids
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFindDeleteRetryJobByID checks the by-id calls, and that none of them
// changes a job a session is working.
func TestFindDeleteRetryJobByID(t *testing.T) {
	t.Parallel()
	c, queue := setup(t)
	ctx := context.Background()
	j := enqueue(t, c, &Job{Queue: queue, Type: "A", Args: MustArgs("x")})
	info, err := c.FindJob(ctx, j.ID)
	if err != nil || info.ID != j.ID || info.Queue != queue || string(info.Args) != `["x"]` || info.State != JobReady {
		t.Fatalf("FindJob = %+v, %v", info, err)
	}
	if info.Kwargs != nil || info.Data != nil || info.Tags != nil || info.LastErrorBacktrace != nil ||
		info.ExpiredAt != nil || info.FinishedAt != nil || info.JobSchemaVersion != 0 {
		t.Errorf("FindJob on a Que 0.x table has Que 2.x columns: %+v", info)
	}

	held := mustLock(t, c, queue)
	if err := c.DeleteJob(ctx, j.ID); !errors.Is(err, ErrJobRunning) {
		t.Errorf("DeleteJob of a held job = %v, want ErrJobRunning", err)
	}
	if err := c.RetryJob(ctx, j.ID); !errors.Is(err, ErrJobRunning) {
		t.Errorf("RetryJob of a held job = %v, want ErrJobRunning", err)
	}
	if info, _ := c.FindJob(ctx, j.ID); info == nil || info.State != JobRunning {
		t.Errorf("held job after the refused calls: %+v", info)
	}
	if err := held.Error("boom"); err != nil {
		t.Fatal(err)
	}
	held.Done()

	// A failed job waiting for its retry runs now, error kept.
	if err := c.RetryJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if info, _ := c.FindJob(ctx, j.ID); info.State != JobReady || info.ErrorCount != 1 || *info.LastError != "boom" {
		t.Errorf("retried job: %+v", info)
	}
	// A given-up job moves back to its queue.
	if _, err := testDB.Exec(`UPDATE que_jobs SET queue = $2 WHERE job_id = $1`, j.ID, DeadQueue(queue)); err != nil {
		t.Fatal(err)
	}
	if err := c.RetryJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if info, _ := c.FindJob(ctx, j.ID); info.Queue != queue {
		t.Errorf("retried dead job is in queue %q, want %q", info.Queue, queue)
	}

	if err := c.DeleteJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if n := countJobs(t, queue); n != 0 {
		t.Errorf("%d jobs left after DeleteJob", n)
	}
	for name, call := range map[string]func() error{
		"FindJob":   func() error { _, err := c.FindJob(ctx, j.ID); return err },
		"DeleteJob": func() error { return c.DeleteJob(ctx, j.ID) },
		"RetryJob":  func() error { return c.RetryJob(ctx, j.ID) },
	} {
		if err := call(); !errors.Is(err, ErrJobNotFound) {
			t.Errorf("%s of a deleted job = %v, want ErrJobNotFound", name, err)
		}
	}
}
