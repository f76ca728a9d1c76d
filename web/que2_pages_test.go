package web

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// golden2 is what a web test takes from testdata/ruby-que-2.4.1: a row Ruby
// Que 2.4.1 enqueued with kwargs and tags, and the error columns of a job
// it failed.
type golden2 struct {
	Ruby, JobClass, Args, Kwargs, Data string
	Message, Backtrace                 string
}

// readGolden2 reads golden2 from the Ruby Que 2.4.1 files.
func readGolden2(t *testing.T) golden2 {
	t.Helper()
	var g golden2
	for _, line := range jsonLines(t, "enqueued.jsonl") {
		var e struct {
			Ruby, JobClass, Args, Kwargs, Data, EnqueueError string
		}
		decode(t, line, &e, map[string]*string{"job_class": &e.JobClass, "enqueue_error": &e.EnqueueError})
		if e.EnqueueError == "" && e.Kwargs != "{}" && strings.Contains(e.Data, `"tags"`) {
			g.Ruby, g.JobClass, g.Args, g.Kwargs, g.Data = e.Ruby, e.JobClass, e.Args, e.Kwargs, e.Data
			break
		}
	}
	var f struct{ Message, Backtrace string }
	decode(t, jsonLines(t, "failed.jsonl")[0], &f,
		map[string]*string{"last_error_message": &f.Message, "last_error_backtrace": &f.Backtrace})
	g.Message, g.Backtrace = f.Message, f.Backtrace
	if g.Kwargs == "" || g.Backtrace == "" {
		t.Fatalf("the golden files lack a tagged row with kwargs or a backtrace: %+v", g)
	}
	return g
}

// jsonLines are the lines of a golden file.
func jsonLines(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open("../testdata/ruby-que-2.4.1/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// decode reads line into v, and the snake_case keys of named into theirs.
func decode(t *testing.T, line string, v any, named map[string]*string) {
	t.Helper()
	if err := json.Unmarshal([]byte(line), v); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		t.Fatal(err)
	}
	for k, p := range named {
		if s, ok := raw[k].(string); ok {
			*p = s
		}
	}
}

// insert2 writes a Que 2.x row with the columns given (the rest their
// defaults, job_schema_version 2 unless given) and returns its id.
func insert2(t *testing.T, queue string, cols map[string]any) int64 {
	t.Helper()
	names, marks, args := []string{"queue"}, []string{"$1"}, []any{queue}
	if _, ok := cols["job_schema_version"]; !ok {
		cols["job_schema_version"] = 2
	}
	for k, v := range cols {
		args = append(args, v)
		names = append(names, k)
		marks = append(marks, "$"+strconv.Itoa(len(args)))
	}
	var id int64
	err := que2DB.QueryRow(`INSERT INTO que_jobs (`+strings.Join(names, ", ")+`) VALUES (`+
		strings.Join(marks, ", ")+`) RETURNING id`, args...).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestQue2Pages fills a Que 2.x table with rows as Ruby Que 2.4.1 writes
// them (kwargs, tags, a message and its backtrace), an expired, a finished
// and a job_schema_version 1 row, and checks that every page shows them.
func TestQue2Pages(t *testing.T) {
	t.Parallel()
	_, srv, queue := setup2(t, Config{})
	g := readGolden2(t)
	failed := insert2(t, queue, map[string]any{"job_class": g.JobClass, "args": g.Args, "kwargs": g.Kwargs,
		"data": g.Data, "error_count": 3, "last_error_message": g.Message, "last_error_backtrace": g.Backtrace,
		"run_at": "infinity"})
	expired := insert2(t, queue, map[string]any{"job_class": "Billing::Refund", "error_count": 16, "expired_at": "now"})
	finished := insert2(t, queue, map[string]any{"job_class": "Billing::Refund", "finished_at": "now"})
	v1 := insert2(t, queue, map[string]any{"job_class": "Legacy::Job", "job_schema_version": 1})
	insert2(t, queue, map[string]any{"job_class": "Legacy::Job"})

	_, body := get(t, nil, srv, "/")
	for field, want := range map[string]string{"ready": "1", "scheduled": "1", "expired": "1", "finished": "1",
		"other_version": "1", "failing": "1"} {
		cell := matches(`data-queue="` + queue + `" data-class="">(?s:.*?)<td data-field="` + field + `">(\d+)</td>`)(body)
		if len(cell) != 1 || strconv.FormatInt(cell[0], 10) != want {
			t.Errorf("overview: %s of %s is %v, want %s", field, queue, cell, want)
		}
	}
	if strings.Contains(body, `data-field="given_up"`) || !strings.Contains(body, "<th>Expired</th>") {
		t.Error("the Que 2.x overview shows given up, or no expired column")
	}

	shown := matches(`data-job-id="(\d+)"`)
	_, body = get(t, nil, srv, "/jobs?"+q("queue", queue, "state", "expired"))
	if got := shown(body); len(got) != 1 || got[0] != expired {
		t.Errorf("state expired lists %v, want [%d]", got, expired)
	}
	if !strings.Contains(body, `<option value="finished"`) || strings.Contains(body, `<option value="dead"`) {
		t.Error("the Que 2.x state filter does not offer expired and finished in place of dead")
	}
	_, body = get(t, nil, srv, "/jobs?"+q("queue", queue, "state", "finished"))
	if got := shown(body); len(got) != 1 || got[0] != finished {
		t.Errorf("state finished lists %v, want [%d]", got, finished)
	}
	_, body = get(t, nil, srv, "/jobs?"+q("queue", queue))
	if !strings.Contains(body, `<span class="tag">billing</span>`) || !strings.Contains(body, `>v1</span>`) {
		t.Errorf("the list lacks the tags or the version mark:\n%s", body)
	}

	code, body := get(t, nil, srv, "/jobs/"+strconv.FormatInt(failed, 10))
	if code != http.StatusOK {
		t.Fatalf("job page: %d", code)
	}
	var kwargs map[string]json.RawMessage
	if err := json.Unmarshal([]byte(g.Kwargs), &kwargs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<span class="tag">billing</span>`, `<span class="tag">eu</span>`,
		"<pre id=\"kwargs\">{\n  &#34;k&#34;: 1\n}</pre>", `<pre id="data">{` + "\n  &#34;tags&#34;: [",
		`<pre id="last-error" class="err">RuntimeError: gateway timeout</pre>`,
		`<pre id="backtrace" class="err">&lt;interop&gt;/golden2.rb:104:in `, `id="job-schema-version">2</td>`,
		`<td id="expired-at">–</td>`, `id="run-at">infinity`, `<tr><th>id</th>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the job page of %q lacks %q", g.Ruby, want)
		}
	}
	if len(kwargs) != 1 {
		t.Fatalf("golden kwargs %s: the test expects one keyword", g.Kwargs)
	}
	_, body = get(t, nil, srv, "/jobs/"+strconv.FormatInt(expired, 10))
	if !strings.Contains(body, `class="state state-expired">expired`) || strings.Contains(body, `<td id="expired-at">–`) {
		t.Errorf("the expired job's page lacks its state or expired_at:\n%s", body)
	}
	_, body = get(t, nil, srv, "/jobs/"+strconv.FormatInt(v1, 10))
	if !strings.Contains(body, `id="job-schema-version">1 <span class="warn">not 2`) {
		t.Errorf("the version 1 job's page does not say Que 2 leaves it alone:\n%s", body)
	}
	_, body = get(t, nil, srv, "/metrics")
	promtoolCheck(t, body)
	for _, want := range []string{`qg_jobs{queue="` + queue + `",job_class="Legacy::Job",state="other_version"} 1`,
		`qg_jobs{queue="` + queue + `",job_class="Billing::Refund",state="finished"} 1`,
		`qg_jobs_expired{queue="` + queue + `"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestQue2JobPageHeldAndCounts checks a held Que 2.x job's page, that the
// other pages answer on a Que 2.x table and that counts.json carries the
// Que 2.x counts.
func TestQue2JobPageHeldAndCounts(t *testing.T) {
	t.Parallel()
	c, srv, queue := setup2(t, Config{})
	id := insert2(t, queue, map[string]any{"job_class": "Held", "kwargs": `{"n": 7}`})
	j, err := c.LockJob(queue)
	if err != nil || j == nil || j.ID != id {
		t.Fatalf("LockJob = %v, %v", j, err)
	}
	defer j.Done()
	_, body := get(t, nil, srv, "/jobs/"+strconv.FormatInt(id, 10))
	if !strings.Contains(body, `class="state state-running">running`) || !strings.Contains(body, "<tr><th>pid</th><td>") ||
		!strings.Contains(body, "&#34;n&#34;: 7") {
		t.Errorf("the held job's page lacks its state, session or kwargs:\n%s", body)
	}
	for _, path := range []string{"/periodic", "/unique", "/static/style.css", "/jobs?" + q("state", "dead")} {
		if code, _ := get(t, nil, srv, path); code != http.StatusOK {
			t.Errorf("GET %s on a Que 2.x table: %d", path, code)
		}
	}
	_, body = get(t, nil, srv, "/counts.json")
	var doc struct {
		Rows []countsJSONRow `json:"rows"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	var mine *countsJSONRow
	for i, r := range doc.Rows {
		if r.Queue == queue && r.Class == "" {
			mine = &doc.Rows[i]
		}
	}
	if mine == nil || mine.Working != 1 || mine.Finished != 0 || mine.OtherVersion != 0 {
		t.Errorf("counts.json row of %s: %+v", queue, mine)
	}
}
