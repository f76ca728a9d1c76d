package web

import (
	"context"
	"database/sql"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qg-go/qg"
)

// allowAll is an Authorize hook that lets every action through.
func allowAll(*http.Request) error { return nil }

// tokenFor opens path in b and returns the CSRF token of its forms.
func tokenFor(t *testing.T, b *http.Client, srv *httptest.Server, path string) string {
	t.Helper()
	_, page := get(t, b, srv, path)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("GET %s has no action form:\n%s", path, page)
	}
	return m[1]
}

var flashText = regexp.MustCompile(`<p class="flash" id="flash">([^<]*)</p>`)

// flashOf follows an action's redirect (loc) in b and returns what the
// page says the action did.
func flashOf(t *testing.T, b *http.Client, srv *httptest.Server, loc string) string {
	t.Helper()
	_, page := get(t, b, srv, strings.TrimPrefix(loc, "/admin/qg"))
	if m := flashText.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// runAt reads job id's run_at and error_count in db.
func runAt(t *testing.T, db *sql.DB, id int64) (time.Time, int) {
	t.Helper()
	var at time.Time
	var n int
	col := "job_id"
	if db == que2DB {
		col = "id"
	}
	if err := db.QueryRow(`SELECT run_at, error_count FROM que_jobs WHERE `+col+` = $1`, id).Scan(&at, &n); err != nil {
		t.Fatalf("job %d: %v", id, err)
	}
	return at, n
}

// TestSnoozeAction snoozes a job through its form on both table
// generations; a bad duration is refused and a held job left alone.
func TestSnoozeAction(t *testing.T) {
	t.Parallel()
	for _, gen := range []struct {
		name string
		db   *sql.DB
	}{{"que0", testDB}, {"que2", que2DB}} {
		t.Run(gen.name, func(t *testing.T) {
			t.Parallel()
			c, srv, queue := setupOn(t, gen.db, Config{Actions: true, Authorize: allowAll})
			j := enqueue(t, c, &qg.Job{Queue: queue, Type: "A"})
			id := strconv.FormatInt(j.ID, 10)
			b := browser(t)
			token := tokenFor(t, b, srv, "/jobs/"+id)
			if code, _ := post(t, b, srv.URL, "/jobs/"+id+"/snooze", url.Values{"csrf": {token}, "for": {"forever"}}); code != http.StatusBadRequest {
				t.Errorf("snooze for forever: %d, want 400", code)
			}
			code, loc := post(t, b, srv.URL, "/jobs/"+id+"/snooze", url.Values{"csrf": {token}, "for": {"2d"}})
			if code != http.StatusSeeOther {
				t.Fatalf("snooze: %d", code)
			}
			at, errors := runAt(t, gen.db, j.ID)
			if d := time.Until(at); d < 47*time.Hour || d > 49*time.Hour || errors != 0 {
				t.Errorf("after snooze 2d: run_at in %v, error_count %d", d, errors)
			}
			if got := flashOf(t, b, srv, loc); !strings.Contains(got, "snoozed: it runs in 2d0h") {
				t.Errorf("the page after snooze says %q", got)
			}
			if _, err := gen.db.Exec(`UPDATE que_jobs SET run_at = now() WHERE queue = $1`, queue); err != nil {
				t.Fatal(err)
			}
			held, err := c.LockJob(queue)
			if err != nil || held == nil {
				t.Fatalf("LockJob = %v, %v", held, err)
			}
			defer held.Done()
			before, _ := runAt(t, gen.db, j.ID)
			_, loc = post(t, b, srv.URL, "/jobs/"+id+"/snooze", url.Values{"csrf": {token}, "for": {"1h"}})
			if after, _ := runAt(t, gen.db, j.ID); !after.Equal(before) {
				t.Errorf("a held job was snoozed")
			}
			if got := flashOf(t, b, srv, loc); !strings.Contains(got, "a worker holds the job") {
				t.Errorf("snoozing a held job says %q", got)
			}
		})
	}
}

// TestCancelQueuedJobAction cancels a queued job: on a Que 0.x table it is
// removed, on a 2.x table expired.
func TestCancelQueuedJobAction(t *testing.T) {
	t.Parallel()
	for _, gen := range []struct {
		name, flash string
		db          *sql.DB
	}{{"que0", "it is removed", testDB}, {"que2", "it is expired", que2DB}} {
		t.Run(gen.name, func(t *testing.T) {
			t.Parallel()
			c, srv, queue := setupOn(t, gen.db, Config{Actions: true, Authorize: allowAll})
			j := enqueue(t, c, &qg.Job{Queue: queue, Type: "A"})
			id := strconv.FormatInt(j.ID, 10)
			b := browser(t)
			token := tokenFor(t, b, srv, "/jobs/"+id)
			code, loc := post(t, b, srv.URL, "/jobs/"+id+"/cancel", url.Values{"csrf": {token}})
			if code != http.StatusSeeOther {
				t.Fatalf("cancel: %d", code)
			}
			if got := flashOf(t, b, srv, loc); !strings.Contains(got, gen.flash) {
				t.Errorf("the page after cancel says %q, want %q", got, gen.flash)
			}
			info, err := c.FindJob(context.Background(), j.ID)
			switch gen.name {
			case "que0":
				if err == nil {
					t.Errorf("the cancelled job is still there: %+v", info)
				}
			case "que2":
				if err != nil || info.State != qg.JobExpired {
					t.Errorf("the cancelled job: %+v, %v; want expired", info, err)
				}
				if _, page := get(t, b, srv, "/jobs/"+id); strings.Contains(page, `id="cancel"`) {
					t.Error("an expired job's page offers Cancel")
				}
			}
		})
	}
}

// TestCancelRunningJobAction cancels a job a qg worker is working: the
// worker's context ends and the job is removed.
func TestCancelRunningJobAction(t *testing.T) {
	t.Parallel()
	c, srv, queue := setup(t, Config{Actions: true, Authorize: allowAll})
	j := enqueue(t, c, &qg.Job{Queue: queue, Type: "Export"})
	started, stopped := make(chan struct{}), make(chan error, 1)
	p := qg.NewWorkerPool(c, qg.WorkMap{"Export": func(j *qg.Job) error {
		close(started)
		select {
		case <-j.Context().Done():
			stopped <- j.Context().Err()
		case <-time.After(time.Minute):
			stopped <- nil
		}
		return j.Context().Err()
	}}, 1)
	p.Queue = queue
	p.Start()
	defer p.Shutdown()
	<-started
	id := strconv.FormatInt(j.ID, 10)
	b := browser(t)
	token := tokenFor(t, b, srv, "/jobs/"+id)
	code, loc := post(t, b, srv.URL, "/jobs/"+id+"/cancel", url.Values{"csrf": {token}})
	if code != http.StatusSeeOther {
		t.Fatalf("cancel: %d", code)
	}
	if got := flashOf(t, b, srv, loc); !strings.Contains(got, "cancel requested") {
		t.Errorf("the page after cancelling a running job says %q", got)
	}
	if err := <-stopped; err == nil {
		t.Fatal("the worker's context was not cancelled")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.FindJob(context.Background(), j.ID); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancelled job is still in que_jobs after 30s")
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// TestPauseResumeAction pauses a queue from the overview, checks that a
// worker takes none of its jobs and that the page shows it paused, then
// resumes it.
func TestPauseResumeAction(t *testing.T) {
	t.Parallel()
	for _, db := range []*sql.DB{testDB, que2DB} {
		c, srv, queue := setupOn(t, db, Config{Actions: true, Authorize: allowAll})
		enqueue(t, c, &qg.Job{Queue: queue, Type: "A"})
		b := browser(t)
		token := tokenFor(t, b, srv, "/")
		if code, _ := post(t, b, srv.URL, "/queues/pause", url.Values{"csrf": {token}}); code != http.StatusBadRequest {
			t.Errorf("pause without a queue: %d, want 400", code)
		}
		code, loc := post(t, b, srv.URL, "/queues/pause", url.Values{"csrf": {token}, "queue": {queue}})
		if code != http.StatusSeeOther || !strings.Contains(flashOf(t, b, srv, loc), "paused") {
			t.Fatalf("pause: %d to %s", code, loc)
		}
		w := qg.NewWorker(c, qg.WorkMap{"A": func(*qg.Job) error { return nil }})
		w.Queue = queue
		if w.WorkOne() {
			t.Error("a worker took a job of the paused queue")
		}
		_, page := get(t, b, srv, "/")
		row := `data-queue="` + queue + `" data-class="">`
		if !strings.Contains(page, `<tr class="queue paused" `+row) || !strings.Contains(page, `<tr data-queue="`+queue+`"><td>`+queue) {
			t.Errorf("the overview does not show %s paused:\n%s", queue, page)
		}
		code, _ = post(t, b, srv.URL, "/queues/resume", url.Values{"csrf": {token}, "queue": {queue}})
		if code != http.StatusSeeOther {
			t.Fatalf("resume: %d", code)
		}
		if !w.WorkOne() {
			t.Error("no worker took the job after resume")
		}
	}
}

// TestFinishedJobOffersOnlyDelete checks that the page of a job Ruby's
// finish kept offers no action but Delete, and an expired one no snooze or
// cancel.
func TestFinishedJobOffersOnlyDelete(t *testing.T) {
	t.Parallel()
	_, srv, queue := setup2(t, Config{Actions: true, Authorize: allowAll})
	finished := insert2(t, queue, map[string]any{"job_class": "A", "finished_at": "now"})
	expired := insert2(t, queue, map[string]any{"job_class": "A", "expired_at": "now"})
	_, page := get(t, nil, srv, "/jobs/"+strconv.FormatInt(finished, 10))
	for _, button := range []string{`id="retry"`, `id="snooze"`, `id="cancel"`} {
		if strings.Contains(page, button) {
			t.Errorf("the finished job's page has %s", button)
		}
	}
	if !strings.Contains(page, `id="delete"`) {
		t.Error("the finished job's page has no Delete")
	}
	_, page = get(t, nil, srv, "/jobs/"+strconv.FormatInt(expired, 10))
	if strings.Contains(page, `id="snooze"`) || strings.Contains(page, `id="cancel"`) || !strings.Contains(page, ">Re-enqueue<") {
		t.Errorf("the expired job's page offers snooze or cancel, or no re-enqueue:\n%s", page)
	}
}
