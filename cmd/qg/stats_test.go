package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statsJSON is what stats --json prints, as a script reads it.
type statsJSON struct {
	Now    time.Time `json:"now"`
	Queues []struct {
		Queue             string `json:"queue"`
		JobClass          string `json:"job_class"`
		Count             int    `json:"count"`
		CountWorking      int    `json:"count_working"`
		CountErrored      int    `json:"count_errored"`
		HighestErrorCount int    `json:"highest_error_count"`
		OldestRunAt       string `json:"oldest_run_at"`
	} `json:"queues"`
	Working []struct {
		JobID           int64      `json:"job_id"`
		Queue           string     `json:"queue"`
		JobClass        string     `json:"job_class"`
		PID             int        `json:"pid"`
		ApplicationName *string    `json:"application_name"`
		ClientAddr      *string    `json:"client_addr"`
		ClientPort      *int       `json:"client_port"`
		User            *string    `json:"user"`
		BackendStart    *time.Time `json:"backend_start"`
		State           *string    `json:"state"`
	} `json:"working"`
}

// lockedQueue fills the test's queue with three jobs of two classes, one of
// them failed, and holds the lock of one: it returns the queue, the locked
// job and the pid of the session holding it.
func lockedQueue(t *testing.T) (q string, locked int64, pid int) {
	t.Helper()
	q = testQueue(t)
	locked = addJob(t, q, "SendEmail", 0, "", 0)
	addJob(t, q, "SendEmail", 3, "smtp down", time.Hour)
	addJob(t, q, "Report", 0, "", time.Hour)
	return q, locked, holdLock(t, locked)
}

func TestStats(t *testing.T) {
	t.Parallel()
	q, locked, pid := lockedQueue(t)
	r := qgRun(t, "stats")
	r.want(t, exitOK)
	counts := regexp.MustCompile(`(?m)^` + q + `\s+SendEmail\s+2\s+1\s+1\s+3\s+\d{4}-`)
	if !counts.MatchString(r.stdout) {
		t.Errorf("no counts row for %s SendEmail (2 jobs, 1 working, 1 errored, max 3):\n%s", q, r.stdout)
	}
	working := regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+%s\s+SendEmail\s+0\s+%d\s+%s\s+127\.0\.0\.1:\d+\s+postgres\s+\d+`,
		locked, q, pid, holderApp))
	if !working.MatchString(r.stdout) || !strings.Contains(r.stdout, "Working: ") {
		t.Errorf("no working row for job %d (pid %d):\n%s", locked, pid, r.stdout)
	}
	for _, s := range []string{"QUEUE", "JOB CLASS", "JOBS", "WORKING", "JOB ID", "PID", "APPLICATION", "CLIENT", "SESSION AGE"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stats lacks the heading %q", s)
		}
	}
}

func TestStatsJSON(t *testing.T) {
	t.Parallel()
	q, locked, pid := lockedQueue(t)
	r := qgRun(t, "stats", "--json")
	r.want(t, exitOK)
	var got statsJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v in %s", err, r.stdout)
	}
	found := 0
	for _, s := range got.Queues {
		switch {
		case s.Queue == q && s.JobClass == "SendEmail":
			found++
			if s.Count != 2 || s.CountWorking != 1 || s.CountErrored != 1 || s.HighestErrorCount != 3 {
				t.Errorf("SendEmail counts %+v", s)
			}
		case s.Queue == q && s.JobClass == "Report":
			found++
			if s.Count != 1 || s.CountWorking != 0 {
				t.Errorf("Report counts %+v", s)
			}
		}
	}
	if found != 2 {
		t.Errorf("%d of 2 rows of queue %s in %s", found, q, r.stdout)
	}
	checkWorking(t, got, q, locked, pid)
}

// checkWorking checks that job locked, held by session pid, is listed as
// working with its session's details.
func checkWorking(t *testing.T, got statsJSON, q string, locked int64, pid int) {
	t.Helper()
	for _, w := range got.Working {
		if w.JobID != locked {
			continue
		}
		if w.Queue != q || w.JobClass != "SendEmail" || w.PID != pid {
			t.Errorf("working job %+v, want pid %d", w, pid)
		}
		if w.ApplicationName == nil || *w.ApplicationName != holderApp {
			t.Errorf("application_name %v, want %s", w.ApplicationName, holderApp)
		}
		if w.ClientAddr == nil || *w.ClientAddr != "127.0.0.1" || w.ClientPort == nil || w.User == nil {
			t.Errorf("client %v:%v user %v", w.ClientAddr, w.ClientPort, w.User)
		}
		if w.BackendStart == nil || w.BackendStart.After(got.Now) || got.Now.Sub(*w.BackendStart) > time.Minute {
			t.Errorf("backend_start %v, now %v", w.BackendStart, got.Now)
		}
		return
	}
	t.Errorf("job %d is not in working: %+v", locked, got.Working)
}

// TestStatsUnlocked checks that a job is no longer working once its lock
// is gone.
func TestStatsUnlocked(t *testing.T) {
	t.Parallel()
	q := testQueue(t)
	id := addJob(t, q, "SendEmail", 0, "", 0)
	r := qgRun(t, "stats", "--json")
	r.want(t, exitOK)
	if strings.Contains(r.stdout, `"job_id": `+strconv.FormatInt(id, 10)+",") {
		t.Errorf("unlocked job %d listed as working:\n%s", id, r.stdout)
	}
	assertUnlocked(t, id)
}
