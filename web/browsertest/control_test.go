package browsertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/web"
)

// click clicks sel and waits for the page the action redirects to: a new
// page (the old one is marked first), whose query says what was done.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.qgOldPage = true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	loaded(t, ctx, `!window.qgOldPage && location.search.includes("done=")`)
}

// open navigates to url and waits for sel.
func open(t *testing.T, ctx context.Context, url, sel string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
}

// TestJobControlInTheBrowser snoozes and cancels jobs of a Ruby Que 2.x
// table by their buttons, one of them while a qg worker runs it, and pauses
// and resumes a queue from the overview; after each click the page shows
// the new state.
func TestJobControlInTheBrowser(t *testing.T) {
	c, err := qg.NewClient2(que2DB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := "browser_control"
	snoozed := insertQue2(t, queue, map[string]any{"job_class": "Mailer::Welcome"})
	cancelled := insertQue2(t, queue, map[string]any{"job_class": "Mailer::Welcome"})
	base := serveOn(t, que2DB, web.Config{Actions: true, Authorize: authorize, RefreshInterval: -1})
	ctx := browse(t)
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + secret}}); err != nil {
		t.Fatal(err)
	}

	// Snooze: a ready job is put off by the chosen time.
	open(t, ctx, fmt.Sprintf("%s/jobs/%d", base, snoozed), "#snooze")
	if got := text(t, ctx, "#state"); got != "ready" {
		t.Fatalf("the job to snooze shows %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#snooze-for"), "6h")); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, "#snooze")
	if got := text(t, ctx, "#flash"); !strings.Contains(got, "snoozed: it runs in 6h0m0s") {
		t.Errorf("after snooze the page says %q", got)
	}
	if got := text(t, ctx, "#state"); got != "scheduled" {
		t.Errorf("after snooze the state shows %q, want scheduled", got)
	}
	if got := text(t, ctx, "#run-at"); !strings.Contains(got, "(in 5h59m") && !strings.Contains(got, "(in 6h0m") {
		t.Errorf("after snooze run_at shows %q", got)
	}
	screenshot(t, ctx, "que2-job-snoozed")

	// Cancel a queued job: Que 2 ends it as expired.
	open(t, ctx, fmt.Sprintf("%s/jobs/%d", base, cancelled), "#cancel")
	click(t, ctx, "#cancel")
	if got := text(t, ctx, "#state"); got != "expired" {
		t.Errorf("after cancel the state shows %q, want expired", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#cancel").length`); n != 0 {
		t.Error("the cancelled job still offers Cancel")
	}
	screenshot(t, ctx, "que2-job-cancelled")

	// Cancel a running job: the qg worker holding it stops, and it is gone.
	running := startRunning(t, c, queue+"_running")
	open(t, ctx, fmt.Sprintf("%s/jobs/%d", base, running.id), "#held-note")
	screenshot(t, ctx, "que2-job-running")
	click(t, ctx, "#cancel")
	if got := text(t, ctx, "#flash"); !strings.Contains(got, "cancel requested") {
		t.Errorf("cancelling the running job says %q", got)
	}
	running.wait(t)
	open(t, ctx, fmt.Sprintf("%s/jobs/%d", base, running.id), "main h1")
	if got := text(t, ctx, "main h1"); got != "No such job" {
		t.Errorf("after the worker stopped, the job's page shows %q", got)
	}

	// Pause and resume the queue from the overview.
	open(t, ctx, base+"/", "#overview")
	click(t, ctx, row(queue, "")+" button.pause")
	if got := text(t, ctx, "#flash"); !strings.Contains(got, "paused") {
		t.Errorf("after pause the page says %q", got)
	}
	if got := text(t, ctx, row(queue, "")+" td.pause"); !strings.HasPrefix(got, "paused") {
		t.Errorf("the paused queue's row shows %q", got)
	}
	screenshot(t, ctx, "overview-paused")
	click(t, ctx, row(queue, "")+" button.resume")
	if n := eval[int](t, ctx, fmt.Sprintf(`document.querySelectorAll(%q).length`, row(queue, "")+" .paused-mark")); n != 0 {
		t.Error("the resumed queue is still marked paused")
	}
}

// runningJob is a job a qg worker is working until its context ends.
type runningJob struct {
	id      int64
	stopped chan error
}

// startRunning enqueues a job in queue and starts a pool that works it
// until its context is cancelled; it returns once the job runs.
func startRunning(t *testing.T, c *qg.Client, queue string) *runningJob {
	t.Helper()
	j := &qg.Job{Queue: queue, Type: "Export"}
	if err := c.Enqueue(j); err != nil {
		t.Fatal(err)
	}
	r := &runningJob{id: j.ID, stopped: make(chan error, 1)}
	started := make(chan struct{})
	p := qg.NewWorkerPool(c, qg.WorkMap{"Export": func(j *qg.Job) error {
		close(started)
		select {
		case <-j.Context().Done():
			r.stopped <- j.Context().Err()
		case <-time.After(time.Minute):
			r.stopped <- nil
		}
		return j.Context().Err()
	}}, 1)
	p.Queue = queue
	p.Start()
	t.Cleanup(p.Shutdown)
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not start the job in 30s")
	}
	return r
}

// wait waits for the job's context to be cancelled and the job to leave
// que_jobs.
func (r *runningJob) wait(t *testing.T) {
	t.Helper()
	if err := <-r.stopped; err == nil {
		t.Fatal("the running job was not cancelled within a minute")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := que2DB.QueryRow(`SELECT count(*) FROM que_jobs WHERE id = $1`, r.id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancelled job is still in que_jobs after 30s")
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}
