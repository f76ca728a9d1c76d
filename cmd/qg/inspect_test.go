package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qg-go/qg"
)

func TestJobsListsWithFilters(t *testing.T) {
	t.Parallel()
	queue, class := testQueue(t), testQueue(t)
	ready := addJob(t, queue, class, 0, "", 0)
	failing := addJob(t, queue, class, 3, "boom\nstack", time.Hour)
	other := addJob(t, queue, "Other", 0, "", 2*time.Hour)
	running := addJob(t, queue, class, 0, "", 0)
	pid := holdLock(t, running)

	r := qgRun(t, "jobs", "--queue", queue)
	r.want(t, exitOK)
	for _, s := range []string{"JOB ID", "STATE", "LAST ERROR", strconv.FormatInt(failing, 10), "retrying", "boom …", "scheduled", "running", "ready"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("qg jobs lacks %q:\n%s", s, r.stdout)
		}
	}

	var res jobsResult
	r = qgRun(t, "jobs", "--queue", queue, "--class", class, "--json")
	r.want(t, exitOK)
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v in %s", err, r.stdout)
	}
	if got := jobIDs(res.Jobs); got != idList(ready, failing, running) {
		t.Errorf("--class %s: jobs %s", class, got)
	}
	if res.Jobs[2].State != qg.JobRunning || res.Jobs[2].WorkerPID != pid || *res.Jobs[1].LastError != "boom\nstack" {
		t.Errorf("--json jobs: %+v", res.Jobs)
	}

	for state, want := range map[string]string{"retrying": idList(failing), "scheduled": idList(other),
		"running": idList(running), "ready": idList(ready), "dead": ""} {
		r = qgRun(t, "jobs", "--queue", queue, "--state", state, "--json")
		r.want(t, exitOK)
		res = jobsResult{}
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatal(err)
		}
		if got := jobIDs(res.Jobs); got != want {
			t.Errorf("--state %s: jobs %s, want %s", state, got, want)
		}
	}

	// Paging: a full page names the next one's command, which picks up there.
	r = qgRun(t, "jobs", "--queue", queue, "--limit", "2")
	r.want(t, exitOK)
	next := "qg jobs --queue " + strconv.Quote(queue) + " --limit 2 --after " + strconv.FormatInt(failing, 10)
	if !strings.Contains(r.stdout, next) {
		t.Errorf("first page lacks %q:\n%s", next, r.stdout)
	}
	r = qgRun(t, "jobs", "--queue", queue, "--limit", "2", "--after", strconv.FormatInt(failing, 10), "--json")
	r.want(t, exitOK)
	res = jobsResult{}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if got := jobIDs(res.Jobs); got != idList(other, running) {
		t.Errorf("second page: %s", got)
	}

	qgRun(t, "jobs", "--state", "lost").want(t, exitUsage, "want one of scheduled, ready, running, retrying, dead, expired, finished")
	qgRun(t, "jobs", "--limit", "0").want(t, exitUsage, "--limit 0")
}

func jobIDs(jobs []qg.JobInfo) string {
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return idList(ids...)
}

func idList(ids ...int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

func TestJobShowsOneJobWhole(t *testing.T) {
	t.Parallel()
	queue := testQueue(t)
	id := addJob(t, queue, "Billing::Charge", 2, "line one\nline two", time.Minute)
	if _, err := testDB.Exec(`UPDATE que_jobs SET args = '[7, {"cents": 1999}]' WHERE job_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	r := qgRun(t, "job", strconv.FormatInt(id, 10))
	r.want(t, exitOK)
	for _, s := range []string{"job_id:      " + strconv.FormatInt(id, 10), "job_class:   Billing::Charge",
		"state:       retrying", "error_count: 2", `"cents": 1999`, "line one\n  line two"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("qg job lacks %q:\n%s", s, r.stdout)
		}
	}
	r = qgRun(t, "job", "--json", strconv.FormatInt(id, 10)) // flags before or after the id
	r.want(t, exitOK)
	var info qg.JobInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.ID != id || info.Queue != queue {
		t.Errorf("qg job --json: %+v, %v", info, err)
	}
	qgRun(t, "job", "999999999999").want(t, exitRuntime, "job not found")
	qgRun(t, "job", "seven").want(t, exitUsage, `job id "seven"`)
	qgRun(t, "job").want(t, exitUsage, "want one JOB_ID")
	qgRun(t, "job", "1", "2").want(t, exitUsage, "want one JOB_ID, got 2")
}

func TestDeleteRefusesAJobBeingWorked(t *testing.T) {
	t.Parallel()
	queue := testQueue(t)
	free, held := addJob(t, queue, "A", 0, "", 0), addJob(t, queue, "A", 0, "", 0)
	holdLock(t, held)

	qgRun(t, "delete", strconv.FormatInt(held, 10)).want(t, exitRuntime, "job is being worked")
	getJob(t, held) // still there
	r := qgRun(t, "delete", strconv.FormatInt(free, 10))
	r.want(t, exitOK)
	if want := "deleted job " + strconv.FormatInt(free, 10) + " (A in queue " + queue + ")"; !strings.Contains(r.stdout, want) {
		t.Errorf("delete says %q, want %q", r.stdout, want)
	}
	qgRun(t, "delete", strconv.FormatInt(free, 10)).want(t, exitRuntime, "job not found")
}

func TestEnableSaysWhatItInstalls(t *testing.T) {
	t.Parallel()
	schema, dbURL := newSchema(t)
	qgEnv(t, nil, "migrate", "--database-url", dbURL).want(t, exitOK)
	for feature, triggers := range map[string][]string{"notify": {"qg_notify_que_jobs"},
		"unique":  {"qg_unique_deleted", "qg_unique_buried", "qg_unique_truncated"},
		"archive": {"qg_archive_jobs"}} {
		r := qgEnv(t, nil, "enable", feature, "--database-url", dbURL)
		r.want(t, exitOK)
		for _, trigger := range triggers {
			if !strings.Contains(r.stdout, trigger) {
				t.Errorf("enable %s does not name %s: %s", feature, trigger, r.stdout)
			}
			var n int
			if err := testDB.QueryRow(`SELECT count(*) FROM pg_trigger
WHERE tgrelid = to_regclass($1) AND tgname = $2`, schema+".que_jobs", trigger).Scan(&n); err != nil || n != 1 {
				t.Errorf("after enable %s: %d triggers %s (%v)", feature, n, trigger, err)
			}
		}
	}
	r := qgEnv(t, nil, "prune", "--older-than", "1h", "--database-url", dbURL)
	r.want(t, exitOK)
	if strings.Contains(r.stderr, "not enabled") {
		t.Errorf("prune with the archive enabled says %q", r.stderr)
	}
	qgEnv(t, nil, "enable", "everything", "--database-url", dbURL).want(t, exitUsage, "want notify, unique or archive")
}

func TestStatsWatch(t *testing.T) {
	t.Parallel()
	queue := testQueue(t)
	addJob(t, queue, "Watched", 0, "", 0)
	r := qgRun(t, "stats", "--watch", "--interval", "10ms", "--times", "3", "--json")
	r.want(t, exitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("--times 3 printed %d lines:\n%s", len(lines), r.stdout)
	}
	for _, line := range lines {
		var res map[string]any
		if err := json.Unmarshal([]byte(line), &res); err != nil || res["queues"] == nil {
			t.Fatal(err)
		}
		if !strings.Contains(line, queue) {
			t.Errorf("a refresh lacks queue %s: %s", queue, line)
		}
	}
	r = qgRun(t, "stats", "--watch", "--interval", "10ms", "--times", "2")
	r.want(t, exitOK)
	if n := strings.Count(r.stdout, clearScreen+"Every 10ms: qg stats"); n != 2 {
		t.Errorf("%d screens, want 2:\n%q", n, r.stdout)
	}
	qgRun(t, "stats", "--watch", "--interval", "0s").want(t, exitUsage, "--interval")
}
