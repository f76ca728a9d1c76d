package browsertest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qg-go/qg/web"
)

// goldenLine is the first line of a file of testdata/ruby-que-2.4.1 (what
// Ruby Que 2.4.1 wrote) that keep accepts.
func goldenLine(t *testing.T, file string, keep func(map[string]any) bool) map[string]any {
	t.Helper()
	f, err := os.Open("../../testdata/ruby-que-2.4.1/" + file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if keep(line) {
			return line
		}
	}
	t.Fatalf("no line of %s fits (%v)", file, sc.Err())
	return nil
}

// insertQue2 writes a row into que2DB's que_jobs: the columns given, the
// rest their defaults, job_schema_version 2 unless given.
func insertQue2(t *testing.T, queue string, cols map[string]any) int64 {
	t.Helper()
	if _, ok := cols["job_schema_version"]; !ok {
		cols["job_schema_version"] = 2
	}
	names, marks, args := "queue", "$1", []any{queue}
	for k, v := range cols {
		args = append(args, v)
		names += ", " + k
		marks += ", $" + strconv.Itoa(len(args))
	}
	var id int64
	if err := que2DB.QueryRow(`INSERT INTO que_jobs (`+names+`) VALUES (`+marks+`) RETURNING id`, args...).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// seedQue2 fills queue of the Que 2.x table: ready, scheduled, a job Ruby
// enqueued with kwargs and tags that failed as Ruby records it, an expired
// and a finished job, and a row of job_schema_version 1. It returns the
// failed and the expired job.
func seedQue2(t *testing.T, queue string) (failed, expired int64) {
	t.Helper()
	tagged := goldenLine(t, "enqueued.jsonl", func(l map[string]any) bool {
		return l["kwargs"] != nil && l["kwargs"] != "{}" && strings.Contains(fmt.Sprint(l["data"]), `"tags"`)
	})
	failure := goldenLine(t, "failed.jsonl", func(l map[string]any) bool { return l["last_error_backtrace"] != nil })
	for i := 0; i < 3; i++ {
		insertQue2(t, queue, map[string]any{"job_class": "Mailer::Welcome", "args": fmt.Sprintf(`[%d]`, i),
			"kwargs": fmt.Sprintf(`{"to": "user%d@example.com"}`, i), "data": `{"tags": ["mail"]}`})
	}
	insertQue2(t, queue, map[string]any{"job_class": "Reports::Nightly", "run_at": time.Now().Add(6 * time.Hour)})
	failed = insertQue2(t, queue, map[string]any{"job_class": tagged["job_class"], "args": tagged["args"],
		"kwargs": tagged["kwargs"], "data": tagged["data"], "error_count": 3,
		"last_error_message": failure["last_error_message"], "last_error_backtrace": failure["last_error_backtrace"],
		"run_at": time.Now().Add(time.Hour)})
	expired = insertQue2(t, queue, map[string]any{"job_class": "Billing::Refund", "args": `[99, "<b>not bold</b>"]`,
		"error_count": 16, "last_error_message": "RuntimeError: gateway timeout", "expired_at": time.Now()})
	insertQue2(t, queue, map[string]any{"job_class": "Billing::Refund", "finished_at": time.Now()})
	insertQue2(t, queue, map[string]any{"job_class": "Legacy::Import", "job_schema_version": 1, "args": `[{"k": 1}]`})
	return failed, expired
}

// TestQue2DashboardInTheBrowser walks the read-only dashboard of a Ruby Que
// 2.x table: the overview's expired, finished and other-version counts, a
// filter on state expired, and a job's page with kwargs, tags, data and
// backtrace.
func TestQue2DashboardInTheBrowser(t *testing.T) {
	queue := "browser_que2"
	failed, expired := seedQue2(t, queue)
	base := serveOn(t, que2DB, web.Config{RefreshInterval: -1})
	ctx := browse(t)

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#overview"))); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{"ready": "3", "scheduled": "2", "failing": "1", "expired": "1",
		"finished": "1", "other_version": "1"} {
		if got := text(t, ctx, row(queue, "")+` td[data-field=`+field+`]`); got != want {
			t.Errorf("overview: %s of %s is %q, want %s", field, queue, got, want)
		}
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("td[data-field=given_up]").length`); n != 0 {
		t.Errorf("the Que 2.x overview has %d given-up cells", n)
	}
	screenshot(t, ctx, "que2-overview")

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/jobs?queue="+queue), chromedp.WaitVisible(chromedp.CSS("#jobs")),
		chromedp.SetValue(chromedp.CSS(`form.filter select[name=state]`), "expired"),
		chromedp.Click(chromedp.CSS(`form.filter button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	loaded(t, ctx, `location.search.includes("state=expired")`)
	ids := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#jobs tr[data-job-id]"), tr => tr.dataset.jobId)`)
	if len(ids) != 1 || ids[0] != strconv.FormatInt(expired, 10) {
		t.Errorf("state expired lists %v, want [%d]", ids, expired)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/jobs?queue="+queue), chromedp.WaitVisible(chromedp.CSS("#jobs"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#jobs span.version"); got != "v1" {
		t.Errorf("the version 1 row is marked %q", got)
	}
	screenshot(t, ctx, "que2-jobs")

	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", base, failed)), chromedp.WaitVisible(chromedp.CSS("#kwargs"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#tags"); got != "billing eu" {
		t.Errorf("tags show %q", got)
	}
	if got := text(t, ctx, "#kwargs"); got != "{\n  \"k\": 1\n}" {
		t.Errorf("kwargs show %q", got)
	}
	if got := text(t, ctx, "#backtrace"); !strings.HasPrefix(got, "<interop>/golden2.rb:104:in `block in run'\n") {
		t.Errorf("backtrace shows %q", got)
	}
	if got := text(t, ctx, "#last-error"); got != "RuntimeError: gateway timeout" {
		t.Errorf("last error shows %q", got)
	}
	if got := text(t, ctx, "#job-schema-version"); got != "2" {
		t.Errorf("job_schema_version shows %q", got)
	}
	screenshot(t, ctx, "que2-job")

	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", base, expired)), chromedp.WaitVisible(chromedp.CSS("#state"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#state"); got != "expired" {
		t.Errorf("the expired job's state shows %q", got)
	}
	if got := text(t, ctx, "#expired-at"); !strings.HasSuffix(got, "ago)") {
		t.Errorf("expired_at shows %q", got)
	}
	screenshot(t, ctx, "que2-job-expired")

	// The read-only server refuses the job-control actions too.
	for _, path := range []string{fmt.Sprintf("/jobs/%d/cancel", failed), fmt.Sprintf("/jobs/%d/snooze", failed), "/queues/pause"} {
		status := eval[int](t, ctx, fmt.Sprintf(`fetch(%q, {method: "POST", body: new URLSearchParams({queue: %q, for: "1h"})}).then(r => r.status)`,
			base+path, queue))
		if status != 405 {
			t.Errorf("read-only server answered %d to POST %s, want 405", status, path)
		}
	}
	var expiredAt *time.Time
	var paused bool
	if err := que2DB.QueryRow(`SELECT expired_at, EXISTS (SELECT 1 FROM qg_paused_queues WHERE queue = $2)
FROM que_jobs WHERE id = $1`, failed, queue).Scan(&expiredAt, &paused); err != nil || expiredAt != nil || paused {
		t.Errorf("a refused POST changed something: expired_at %v, paused %v (%v)", expiredAt, paused, err)
	}
}
