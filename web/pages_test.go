package web

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qg-go/qg"
)

// hostile is a value that would run script if a page did not escape it.
const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>`

// TestPagesEscapeHostileValues fills a job's class, queue, args and error
// with markup and checks that no page carries it unescaped.
func TestPagesEscapeHostileValues(t *testing.T) {
	t.Parallel()
	c, srv, queue := setup(t, Config{})
	badQueue := queue + `"><b>`
	j := enqueue(t, c, &qg.Job{Queue: badQueue, Type: hostile, Args: qg.MustArgs(hostile, map[string]string{"k": hostile})})
	if _, err := testDB.Exec(`UPDATE que_jobs SET error_count = 1, last_error = $2 WHERE job_id = $1`,
		j.ID, "boom </pre>"+hostile); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/jobs", "/jobs?" + q("queue", badQueue, "class", hostile),
		"/jobs/" + strconv.FormatInt(j.ID, 10)} {
		code, body := get(t, nil, srv, path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, code, body)
		}
		for _, raw := range []string{"<script>alert", "<img", `"><b>`, "</pre>" + "<script"} {
			if strings.Contains(body, raw) {
				t.Errorf("GET %s carries %q unescaped", path, raw)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(") {
			t.Errorf("GET %s does not show the hostile class, escaped", path)
		}
	}
}

// TestJobListFiltersAndPages checks the queue, class and state filters and
// the keyset pages of the job list.
func TestJobListFiltersAndPages(t *testing.T) {
	t.Parallel()
	c, srv, queue := setup(t, Config{PageSize: 2})
	var ids []int64
	for i := 0; i < 5; i++ {
		ids = append(ids, enqueue(t, c, &qg.Job{Queue: queue, Type: "Mailer", Args: qg.MustArgs(i)}).ID)
	}
	other := enqueue(t, c, &qg.Job{Queue: queue, Type: "Billing", RunAt: time.Now().Add(time.Hour)})
	shown := matches(`data-job-id="(\d+)"`)

	_, body := get(t, nil, srv, "/jobs?"+q("queue", queue, "class", "Mailer"))
	if got := shown(body); len(got) != 2 || got[0] != ids[0] || got[1] != ids[1] {
		t.Fatalf("first page shows %v, want %v", got, ids[:2])
	}
	next := matches(`id="next" href="/admin/qg/jobs\?[^"]*after=(\d+)`)(body)
	if len(next) != 1 || next[0] != ids[1] {
		t.Fatalf("next link after %v, want after=%d", next, ids[1])
	}
	_, body = get(t, nil, srv, "/jobs?"+q("queue", queue, "class", "Mailer", "after", strconv.FormatInt(ids[3], 10)))
	if got := shown(body); len(got) != 1 || got[0] != ids[4] || !strings.Contains(body, "last page") {
		t.Fatalf("last page shows %v, want [%d] and no next link", got, ids[4])
	}
	_, body = get(t, nil, srv, "/jobs?"+q("queue", queue, "state", "scheduled"))
	if got := shown(body); len(got) != 1 || got[0] != other.ID {
		t.Fatalf("scheduled filter shows %v, want [%d]", got, other.ID)
	}
	if code, _ := get(t, nil, srv, "/jobs?"+q("state", "nonsense")); code != http.StatusBadRequest {
		t.Errorf("an unknown state answered %d, want 400", code)
	}
}

// TestOverviewAndJobPage checks the overview's counts of a queue and a job's
// page while a session holds the job, and that links keep the prefix.
func TestOverviewAndJobPage(t *testing.T) {
	t.Parallel()
	c, srv, queue := setup(t, Config{})
	enqueue(t, c, &qg.Job{Queue: queue, Type: "Ready"})
	enqueue(t, c, &qg.Job{Queue: queue, Type: "Later", RunAt: time.Now().Add(time.Hour)})
	held := enqueue(t, c, &qg.Job{Queue: queue + "_held", Type: "Held", Args: qg.MustArgs(map[string]int{"n": 7})})
	j, err := c.LockJob(queue + "_held")
	if err != nil || j == nil || j.ID != held.ID {
		t.Fatalf("LockJob = %v, %v", j, err)
	}
	defer j.Done()

	_, body := get(t, nil, srv, "/")
	row := matches(`data-queue="` + queue + `" data-class="">\s*<th><a href="/admin/qg/jobs\?queue=` + queue +
		`">[^<]*</a></th><td>all classes</td>\s*<td data-field="ready">(\d+)</td><td data-field="scheduled">(\d+)</td>`)(body)
	if len(row) != 2 || row[0] != 1 || row[1] != 1 {
		t.Fatalf("overview row of %s: %v, want 1 ready and 1 scheduled\n%s", queue, row, body)
	}
	code, body := get(t, nil, srv, "/jobs/"+strconv.FormatInt(held.ID, 10))
	if code != http.StatusOK || !strings.Contains(body, `id="state" class="state state-running">running`) ||
		!strings.Contains(body, "<tr><th>pid</th><td>") || !strings.Contains(body, "&#34;n&#34;: 7") ||
		!strings.Contains(body, "<tr><th>job_id</th>") {
		t.Fatalf("held job's page (%d) lacks its state, session or args:\n%s", code, body)
	}
	if code, _ := get(t, nil, srv, "/jobs/999999999"); code != http.StatusNotFound {
		t.Errorf("a missing job answered %d, want 404", code)
	}
	for _, path := range []string{"/periodic", "/unique", "/static/style.css", "/counts.json"} {
		if code, _ := get(t, nil, srv, path); code != http.StatusOK {
			t.Errorf("GET %s: %d", path, code)
		}
	}
}
