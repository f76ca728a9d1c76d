package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestSnoozeCancelPauseResume(t *testing.T) {
	t.Parallel()
	queue := testQueue(t)
	snoozed, cancelled, held := addJob(t, queue, "A", 1, "boom", 0), addJob(t, queue, "A", 0, "", 0), addJob(t, queue, "A", 0, "", 0)
	holdLock(t, held)

	r := qgRun(t, "snooze", strconv.FormatInt(snoozed, 10), "--for", "2h")
	r.want(t, exitOK)
	if want := "job " + strconv.FormatInt(snoozed, 10) + " snoozed for 2h0m0s"; !strings.Contains(r.stdout, want) {
		t.Errorf("snooze says %q, want %q", r.stdout, want)
	}
	if j := getJob(t, snoozed); j.ErrorCount != 1 || j.RunAt.Sub(serverNow(t)).Hours() < 1.9 {
		t.Errorf("snoozed job: %+v", j)
	}
	qgRun(t, "snooze", strconv.FormatInt(held, 10), "--for", "1h").want(t, exitRuntime, "being worked")
	qgRun(t, "snooze", "1", "--for", "0s").want(t, exitUsage, "--for")

	r = qgRun(t, "cancel", strconv.FormatInt(cancelled, 10))
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, "removed (it was queued)") {
		t.Errorf("cancel of a queued job says %q", r.stdout)
	}
	r = qgRun(t, "cancel", strconv.FormatInt(held, 10), "--json")
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, `"running": true`) {
		t.Errorf("cancel of a held job says %q", r.stdout)
	}
	var requests int
	if err := testDB.QueryRow(`SELECT count(*) FROM qg_cancelled_jobs WHERE job_id = $1`, held).Scan(&requests); err != nil || requests != 1 {
		t.Errorf("%d cancel requests for the held job (%v)", requests, err)
	}

	r = qgRun(t, "pause", queue)
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, "queue "+queue+" paused") {
		t.Errorf("pause says %q", r.stdout)
	}
	var paused int
	if err := testDB.QueryRow(`SELECT count(*) FROM qg_paused_queues WHERE queue = $1`, queue).Scan(&paused); err != nil || paused != 1 {
		t.Errorf("%d pause rows (%v)", paused, err)
	}
	qgRun(t, "resume", queue).want(t, exitOK)
	if err := testDB.QueryRow(`SELECT count(*) FROM qg_paused_queues WHERE queue = $1`, queue).Scan(&paused); err != nil || paused != 0 {
		t.Errorf("%d pause rows after resume (%v)", paused, err)
	}
	qgRun(t, "pause").want(t, exitUsage, "want one QUEUE")
}
