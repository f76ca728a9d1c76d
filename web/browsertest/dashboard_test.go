package browsertest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/web"
)

// seed fills queue with jobs of each state and returns the failing one and
// the given-up one.
func seed(t *testing.T, c *qg.Client, queue string) (failing, dead *qg.Job) {
	t.Helper()
	enq := func(j *qg.Job) *qg.Job {
		if err := c.Enqueue(j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	for i := 0; i < 3; i++ {
		enq(&qg.Job{Queue: queue, Type: "Mailer::Welcome", Args: qg.MustArgs(i, map[string]any{"to": fmt.Sprintf("user%d@example.com", i)}),
			RunAt: time.Now().Add(-time.Duration(i+1) * time.Minute)})
	}
	enq(&qg.Job{Queue: queue, Type: "Reports::Nightly", RunAt: time.Now().Add(6 * time.Hour)})
	failing = enq(&qg.Job{Queue: queue, Type: "Billing::Charge", Args: qg.MustArgs(4242, "EUR"), RunAt: time.Now().Add(time.Hour)})
	dead = enq(&qg.Job{Queue: qg.DeadQueue(queue), Type: "Billing::Charge", Args: qg.MustArgs(99, "<b>not bold</b>")})
	for _, j := range []*qg.Job{failing, dead} {
		if _, err := testDB.Exec(`UPDATE que_jobs SET error_count = 3,
  last_error = 'card declined <script>alert(1)</script>' || E'\n  at charge.rb:12\n  at worker.rb:40'
WHERE job_id = $1`, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	return failing, dead
}

// text reads the text of the first element sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// eval runs js in the page, awaiting a promise, and returns its value.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// loaded waits until the page's URL satisfies cond (a JS expression on
// location) and the page has loaded. It asks again while a navigation
// replaces the page it asked.
func loaded(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	waitFor(t, ctx, cond+` && document.readyState === "complete"`)
}

// waitFor polls the JS expression cond until it is true, for 30 seconds.
func waitFor(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waited 30s for %s (last error: %v)", cond, err)
		}
	}
}

// row is the selector of the overview row of queue and class.
func row(queue, class string) string {
	return fmt.Sprintf(`#overview tbody tr[data-queue=%q][data-class=%q]`, queue, class)
}

// TestReadOnlyDashboardInTheBrowser walks the read-only dashboard: the
// overview's counts, their refresh, a filter that narrows the job list, a
// job's page with its error, and a POST the server refuses.
func TestReadOnlyDashboardInTheBrowser(t *testing.T) {
	c, err := qg.NewClient2(testDB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := "browser_readonly"
	failing, _ := seed(t, c, queue)
	base := serve(t, web.Config{RefreshInterval: 300 * time.Millisecond})
	ctx := browse(t)

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#overview"))); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{"ready": "3", "scheduled": "2", "failing": "1", "given_up": "1", "working": "0"} {
		if got := text(t, ctx, row(queue, "")+` td[data-field=`+field+`]`); got != want {
			t.Errorf("overview: %s of %s is %q, want %s", field, queue, got, want)
		}
	}
	if got := text(t, ctx, row(queue, "Mailer::Welcome")+` td[data-field=ready]`); got != "3" {
		t.Errorf("overview: ready of Mailer::Welcome is %q, want 3", got)
	}
	screenshot(t, ctx, "overview")

	// The script refreshes the counts: two more ready jobs show up unasked.
	for i := 0; i < 2; i++ {
		if err := c.Enqueue(&qg.Job{Queue: queue, Type: "Mailer::Welcome"}); err != nil {
			t.Fatal(err)
		}
	}
	cell := row(queue, "") + ` td[data-field=ready]`
	waitFor(t, ctx, fmt.Sprintf(`document.querySelector(%q).textContent === "5"`, cell))

	// A filter narrows the list.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/jobs"), chromedp.WaitVisible(chromedp.CSS("#jobs"))); err != nil {
		t.Fatal(err)
	}
	all := eval[int](t, ctx, `document.querySelectorAll("#jobs tr[data-job-id]").length`)
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`form.filter input[name=queue]`), queue),
		chromedp.SetValue(chromedp.CSS(`form.filter select[name=state]`), "retrying"),
		chromedp.Click(chromedp.CSS(`form.filter button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	loaded(t, ctx, `location.search.includes("state=retrying")`)
	ids := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#jobs tr[data-job-id]"), tr => tr.dataset.jobId)`)
	if len(ids) != 1 || ids[0] != strconv.FormatInt(failing.ID, 10) || all <= len(ids) {
		t.Fatalf("the filter shows jobs %v of %d, want only %d", ids, all, failing.ID)
	}
	screenshot(t, ctx, "jobs-filtered")

	// The job's page shows its error, escaped.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#jobs tr[data-job-id] td a`))); err != nil {
		t.Fatal(err)
	}
	loaded(t, ctx, fmt.Sprintf(`location.pathname.endsWith("/jobs/%d")`, failing.ID))
	if got := text(t, ctx, "#last-error"); !strings.HasPrefix(got, "card declined <script>alert(1)</script>") {
		t.Errorf("the job's page shows last error %q", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("main script, form[method=post]").length`); n != 0 {
		t.Errorf("the read-only job page has %d scripts or forms in its content", n)
	}
	screenshot(t, ctx, "job")

	// The read-only server refuses a POST, whatever its path.
	path := fmt.Sprintf("%s/jobs/%d/retry", base, failing.ID)
	status := eval[int](t, ctx, fmt.Sprintf(`fetch(%q, {method: "POST"}).then(r => r.status)`, path))
	if status != 405 {
		t.Errorf("read-only server answered %d to a POST, want 405", status)
	}
	var runnable bool
	if err := testDB.QueryRow(`SELECT run_at <= now() FROM que_jobs WHERE job_id = $1`, failing.ID).Scan(&runnable); err != nil || runnable {
		t.Errorf("the refused POST changed the job (runnable %v, %v)", runnable, err)
	}
	for _, page := range []string{"periodic", "unique"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"+page), chromedp.WaitVisible(chromedp.CSS("#"+page))); err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, page)
	}
}

// TestRetryInTheBrowser turns the actions on, re-enqueues a given-up job by
// its button, and checks that the page and the row change; a job a worker
// holds is left alone and the page says so.
func TestRetryInTheBrowser(t *testing.T) {
	c, err := qg.NewClient2(testDB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := "browser_actions"
	_, dead := seed(t, c, queue)
	base := serve(t, web.Config{Actions: true, Authorize: authorize})
	ctx := browse(t)
	jobURL := fmt.Sprintf("%s/jobs/%d", base, dead.ID)

	// Without the token the hook refuses: the job stays given up.
	if err := chromedp.Do(ctx, chromedp.Navigate(jobURL), chromedp.WaitVisible(chromedp.CSS("#retry")),
		chromedp.Click(chromedp.CSS("#retry"))); err != nil {
		t.Fatal(err)
	}
	loaded(t, ctx, `location.pathname.endsWith("/retry")`)
	if got := text(t, ctx, "body"); !strings.Contains(got, "not authorized") {
		t.Errorf("a retry without the token answered %q", got)
	}
	if q := jobQueue(t, dead.ID); q != qg.DeadQueue(queue) {
		t.Fatalf("a refused retry moved the job to %q", q)
	}

	// With it, the button re-enqueues the job and the page says so.
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + secret}}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(jobURL), chromedp.WaitVisible(chromedp.CSS("#retry"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#state"); got != "dead" {
		t.Fatalf("the given-up job's state shows %q", got)
	}
	screenshot(t, ctx, "job-given-up")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#retry"))); err != nil {
		t.Fatal(err)
	}
	loaded(t, ctx, `location.search.includes("done=")`)
	if got := text(t, ctx, "#flash"); got != fmt.Sprintf("job %d will run now", dead.ID) {
		t.Errorf("after retry the page says %q", got)
	}
	if got := text(t, ctx, "#state"); got != "ready" {
		t.Errorf("after retry the state shows %q, want ready", got)
	}
	if q := jobQueue(t, dead.ID); q != queue {
		t.Errorf("after retry the job is in %q, want %q", q, queue)
	}
	screenshot(t, ctx, "job-retried")

	// A job a worker holds is left alone, and the page says so.
	held, err := c.LockJob(queue)
	if err != nil || held == nil {
		t.Fatalf("LockJob = %v, %v", held, err)
	}
	defer held.Done()
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", base, held.ID)),
		chromedp.WaitVisible(chromedp.CSS("#held-note"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#holder tr:first-child td"); got == "" || got == "0" {
		t.Errorf("the held job's page shows pid %q", got)
	}
	screenshot(t, ctx, "job-held")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#delete"))); err != nil {
		t.Fatal(err)
	}
	loaded(t, ctx, `location.search.includes("done=")`)
	if got := text(t, ctx, "#flash"); !strings.Contains(got, "a worker holds the job") {
		t.Errorf("deleting a held job says %q", got)
	}
	if q := jobQueue(t, held.ID); q != queue {
		t.Errorf("the held job moved to %q", q)
	}
}

// jobQueue reads job id's queue, failing the test when it is gone.
func jobQueue(t *testing.T, id int64) string {
	t.Helper()
	var q string
	if err := testDB.QueryRow(`SELECT queue FROM que_jobs WHERE job_id = $1`, id).Scan(&q); err != nil {
		t.Fatalf("job %d: %v", id, err)
	}
	return q
}
