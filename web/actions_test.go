package web

import (
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qg-go/qg"
)

// TestReadOnlyRefusesEveryWrite sends writes to a read-only handler, on
// action paths and others, and checks each is refused and nothing changed.
func TestReadOnlyRefusesEveryWrite(t *testing.T) {
	t.Parallel()
	c, srv, queue := setup(t, Config{})
	j := enqueue(t, c, &qg.Job{Queue: queue, Type: "A", RunAt: time.Now().Add(time.Hour)})
	id := strconv.FormatInt(j.ID, 10)
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		for _, path := range []string{"/jobs/" + id + "/retry", "/jobs/" + id + "/delete", "/jobs/retry", "/jobs/" + id,
			"/jobs/" + id + "/snooze", "/jobs/" + id + "/cancel", "/queues/pause", "/queues/resume", "/", "/metrics", "/nowhere"} {
			req, _ := http.NewRequest(method, srv.URL+"/admin/qg"+path, strings.NewReader("csrf=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, path, res.StatusCode)
			}
		}
	}
	if q, runnable := jobRow(t, j.ID); q != queue || runnable {
		t.Fatalf("the job changed: queue %q, runnable %v", q, runnable)
	}
	if _, body := get(t, nil, srv, "/jobs/"+id); strings.Contains(body, `name="csrf"`) {
		t.Error("a read-only job page carries action forms")
	}
}

// TestActionsNeedAnAuthorizeHook checks that New refuses actions without one.
func TestActionsNeedAnAuthorizeHook(t *testing.T) {
	t.Parallel()
	c, err := qg.NewClient2(testDB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := New(c, Config{Actions: true}); !errors.Is(err, ErrNoAuthorize) {
		t.Fatalf("New with Actions and no Authorize = %v, want ErrNoAuthorize", err)
	}
	if _, err := New(nil, Config{}); !errors.Is(err, ErrNoClient) {
		t.Fatalf("New(nil) = %v, want ErrNoClient", err)
	}
}

// browser is a client with a cookie jar that does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// post sends form to path and returns the status and Location.
func post(t *testing.T, client *http.Client, base, path string, form url.Values) (int, string) {
	t.Helper()
	res, err := client.PostForm(base+"/admin/qg"+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("Location")
}

// TestRetryActionChecksTokenAndAuthorization retries a given-up job through
// the form, after checking that a missing token, a foreign token and a
// refused authorization change nothing, and that a held job is left alone.
func TestRetryActionChecksTokenAndAuthorization(t *testing.T) {
	t.Parallel()
	allow := true
	c, srv, queue := setup(t, Config{Actions: true, Authorize: func(r *http.Request) error {
		if !allow {
			return errors.New("not you")
		}
		return nil
	}})
	dead := enqueue(t, c, &qg.Job{Queue: qg.DeadQueue(queue), Type: "A", RunAt: time.Now().Add(time.Hour)})
	id := strconv.FormatInt(dead.ID, 10)
	b := browser(t)
	_, page := get(t, b, srv, "/jobs/"+id)
	m := csrfField.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, ">Re-enqueue<") {
		t.Fatalf("the given-up job's page has no Re-enqueue form:\n%s", page)
	}
	token := m[1]
	if code, _ := post(t, b, srv.URL, "/jobs/"+id+"/retry", url.Values{}); code != http.StatusForbidden {
		t.Errorf("no token: %d, want 403", code)
	}
	if code, _ := post(t, browser(t), srv.URL, "/jobs/"+id+"/retry", url.Values{"csrf": {token}}); code != http.StatusForbidden {
		t.Errorf("a token without its cookie: %d, want 403", code)
	}
	allow = false
	if code, _ := post(t, b, srv.URL, "/jobs/"+id+"/retry", url.Values{"csrf": {token}}); code != http.StatusForbidden {
		t.Errorf("refused by Authorize: %d, want 403", code)
	}
	if q, _ := jobRow(t, dead.ID); q != qg.DeadQueue(queue) {
		t.Fatalf("a refused action moved the job to %q", q)
	}
	allow = true
	code, loc := post(t, b, srv.URL, "/jobs/"+id+"/retry", url.Values{"csrf": {token}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/qg/jobs/"+id+"?") {
		t.Fatalf("retry: %d to %q, want 303 to the job's page", code, loc)
	}
	if q, runnable := jobRow(t, dead.ID); q != queue || !runnable {
		t.Fatalf("after retry: queue %q, runnable %v; want %q, runnable", q, runnable, queue)
	}
	_, page = get(t, b, srv, strings.TrimPrefix(loc, "/admin/qg"))
	if !strings.Contains(page, "will run now") {
		t.Errorf("the page after retry does not say what happened:\n%s", page)
	}

	j, err := c.LockJob(queue)
	if err != nil || j == nil || j.ID != dead.ID {
		t.Fatalf("LockJob = %v, %v", j, err)
	}
	defer j.Done()
	code, loc = post(t, b, srv.URL, "/jobs/"+id+"/delete", url.Values{"csrf": {token}})
	if code != http.StatusSeeOther {
		t.Fatalf("delete of a held job: %d", code)
	}
	if q, _ := jobRow(t, dead.ID); q != queue {
		t.Fatalf("a held job changed")
	}
	_, page = get(t, b, srv, strings.TrimPrefix(loc, "/admin/qg"))
	if !strings.Contains(page, "a worker holds the job") {
		t.Errorf("the page does not say the job was left alone:\n%s", page)
	}
}

// TestBulkRetryChangesOnlyTheFilteredJobs retries a filtered list and checks
// that jobs beyond the list's last id, of another class, or held stay.
func TestBulkRetryChangesOnlyTheFilteredJobs(t *testing.T) {
	t.Parallel()
	c, srv, queue := setup(t, Config{Actions: true, Authorize: func(*http.Request) error { return nil }})
	later := time.Now().Add(time.Hour)
	a1 := enqueue(t, c, &qg.Job{Queue: queue, Type: "A", RunAt: later})
	a2 := enqueue(t, c, &qg.Job{Queue: queue, Type: "A", RunAt: later})
	b1 := enqueue(t, c, &qg.Job{Queue: queue, Type: "B", RunAt: later})
	b := browser(t)
	_, page := get(t, b, srv, "/jobs?"+q("queue", queue, "class", "A"))
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no bulk form:\n%s", page)
	}
	a3 := enqueue(t, c, &qg.Job{Queue: queue, Type: "A", RunAt: later}) // after the page was shown
	form := url.Values{"csrf": {m[1]}, "queue": {queue}, "class": {"A"}, "upto": {strconv.FormatInt(a2.ID, 10)}}
	if code, _ := post(t, b, srv.URL, "/jobs/retry", form); code != http.StatusSeeOther {
		t.Fatalf("bulk retry: %d", code)
	}
	for _, tc := range []struct {
		j    *qg.Job
		want bool
	}{{a1, true}, {a2, true}, {b1, false}, {a3, false}} {
		if _, runnable := jobRow(t, tc.j.ID); runnable != tc.want {
			t.Errorf("job %d (%s): runnable %v, want %v", tc.j.ID, tc.j.Type, runnable, tc.want)
		}
	}
}

// TestCrossSitePostIsRefused checks that a POST the browser marks as
// coming from another site is refused even with a valid token.
func TestCrossSitePostIsRefused(t *testing.T) {
	t.Parallel()
	c, srv, queue := setup(t, Config{Actions: true, Authorize: func(*http.Request) error { return nil }})
	j := enqueue(t, c, &qg.Job{Queue: queue, Type: "A", RunAt: time.Now().Add(time.Hour)})
	id := strconv.FormatInt(j.ID, 10)
	b := browser(t)
	_, page := get(t, b, srv, "/jobs/"+id)
	m := csrfField.FindStringSubmatch(page)
	req, _ := http.NewRequest("POST", srv.URL+"/admin/qg/jobs/"+id+"/delete", strings.NewReader("csrf="+m[1]))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d, want 403", res.StatusCode)
	}
	jobRow(t, j.ID) // still there
}
