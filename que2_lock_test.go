package qg

import (
	"context"
	"testing"
	"time"
)

// Locking on the Que 2.x table, against worked.jsonl: which rows a worker
// takes, and what the Job holds.

// insertWorkedRows inserts the raw rows of worked.jsonl into queue and
// returns them with their ids.
func insertWorkedRows(t *testing.T, queue string) (map[int64]goldenWorked2, []goldenWorked2) {
	t.Helper()
	db, _ := que2Shared(t)
	rows := map[int64]goldenWorked2{}
	var all []goldenWorked2
	for _, g := range readGoldenFile[goldenWorked2](t, golden2Dir, "worked.jsonl") {
		if g.Insert != "" {
			continue
		}
		var id int64
		err := db.QueryRow(`INSERT INTO que_jobs (queue, job_class, args, kwargs, data, job_schema_version)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, queue, g.JobClass, g.Args, g.Kwargs, g.Data,
			g.JobSchemaVersion).Scan(&id)
		if err != nil {
			t.Fatalf("%s %s: %v", g.JobClass, g.Args, err)
		}
		rows[id] = g
		all = append(all, g)
	}
	return rows, all
}

// storedText reads the jsonb columns of row id as PostgreSQL writes them.
func storedText(t *testing.T, id int64) (args, kwargs, data string) {
	t.Helper()
	db, _ := que2Shared(t)
	err := db.QueryRow(`SELECT args::text, kwargs::text, data::text FROM que_jobs WHERE id = $1`, id).
		Scan(&args, &kwargs, &data)
	if err != nil {
		t.Fatal(err)
	}
	return args, kwargs, data
}

// TestQue2LockTakesWhatRubyWorks locks every row of worked.jsonl with
// LockJob: the rows Ruby Que 2 worked (job_schema_version 2) are taken,
// each once, with args, kwargs, data and tags exactly as stored; the rows
// Ruby left untouched (versions 1 and 3) are left untouched too, and
// TableStats counts them.
func TestQue2LockTakesWhatRubyWorks(t *testing.T) {
	c, queue := setup2(t)
	before, err := c.TableStats()
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := insertWorkedRows(t, queue)
	taken := map[int64]bool{}
	for {
		j, err := c.LockJob(queue)
		if err != nil {
			t.Fatal(err)
		}
		if j == nil {
			break
		}
		g, ok := rows[j.ID]
		if !ok || taken[j.ID] {
			t.Fatalf("locked job %d: golden %v, taken before %v", j.ID, ok, taken[j.ID])
		}
		taken[j.ID] = true
		args, kwargs, data := storedText(t, j.ID)
		if string(j.Args) != args || string(j.Kwargs) != kwargs || string(j.Data) != data || j.Type != g.JobClass {
			t.Errorf("job %d: %s %s %s %s, want %s %s %s %s", j.ID, j.Type, j.Args, j.Kwargs, j.Data,
				g.JobClass, args, kwargs, data)
		}
		if g.QueAttrsData == `{:tags=>["go", "eu"]}` && (len(j.Tags) != 2 || j.Tags[0] != "go" || j.Tags[1] != "eu") {
			t.Errorf("job %d: tags %q, want go, eu", j.ID, j.Tags)
		}
		if err := j.Delete(); err != nil {
			t.Fatal(err)
		}
		j.Done()
	}
	for id, g := range rows {
		if untouched := g.Outcome == "untouched"; untouched == taken[id] {
			t.Errorf("job %d (%s, job_schema_version %d): taken %v, Ruby's outcome %s", id, g.Args,
				g.JobSchemaVersion, taken[id], g.Outcome)
		}
	}
	after, err := c.TableStats()
	if err != nil {
		t.Fatal(err)
	}
	if after.OtherVersion-before.OtherVersion != 2 || after.OtherVersionReady-before.OtherVersionReady != 2 {
		t.Errorf("TableStats: %+v, then %+v; want 2 more rows of another version, ready", before, after)
	}
	// ForJobSchemaVersion drains them explicitly.
	for _, v := range []int{1, 3} {
		cv, err := c.ForJobSchemaVersion(v)
		if err != nil {
			t.Fatal(err)
		}
		drained := 0
		w := NewWorker(cv, WorkMap{"SendEmail": func(*Job) error { drained++; return nil }})
		w.Queue = queue
		for w.WorkOne() {
		}
		cv.Close()
		if drained != 1 {
			t.Errorf("job_schema_version %d: drained %d, want 1", v, drained)
		}
	}
	if n := countQue2Jobs(t, queue); n != 0 {
		db, _ := que2Shared(t)
		t.Errorf("%d rows left: %v", n, catalogRows(t, db, `SELECT id, job_class, args, job_schema_version, error_count, last_error_message FROM que_jobs WHERE queue = $1`, queue))
	}
}

// TestQue2LockSkipsFinishedExpiredAndFuture checks the rest of the walk's
// predicate: finished, expired and future rows are never locked, and the
// empty queue is 'default'.
func TestQue2LockSkipsFinishedExpiredAndFuture(t *testing.T) {
	c, queue := setup2(t)
	db, _ := que2Shared(t)
	for _, set := range []string{"finished_at = now()", "expired_at = now()", "run_at = now() + interval '1 hour'"} {
		id := insertQue2Row(t, queue, "SendEmail", 0)
		if _, err := db.Exec(`UPDATE que_jobs SET `+set+` WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
	if j, err := c.LockJob(queue); j != nil || err != nil {
		t.Fatalf("LockJob: %v, %v; want nothing", j, err)
	}
	s, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range s {
		if st.Queue == queue && st.Count != 1 {
			t.Errorf("Stats of %s: %+v, want the future job only", queue, st)
		}
	}
	if _, err := db.Exec(`DELETE FROM que_jobs WHERE queue = $1`, queue); err != nil {
		t.Fatal(err)
	}
}

// TestQue2RecheckComparesRunAtAndErrorCount: a job that another worker
// failed and rescheduled between the walk and the lock (so the walk's row
// is stale) is not taken. The walk is replayed by hand: the stale Job is
// re-checked as LockJob re-checks it.
func TestQue2RecheckComparesRunAtAndErrorCount(t *testing.T) {
	c, queue := setup2(t)
	db, _ := que2Shared(t)
	id := insertQue2Row(t, queue, "SendEmail", 0)
	j, err := c.LockJob(queue)
	if err != nil || j == nil || j.ID != id {
		t.Fatalf("LockJob: %v, %v", j, err)
	}
	defer j.Done()
	ctx := context.Background()
	check := func(what string, want bool) {
		t.Helper()
		query, args := c.d.jobExists(j)
		var exists bool
		if err := db.QueryRowContext(ctx, query, args...).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists != want {
			t.Errorf("%s: re-check says %v, want %v", what, exists, want)
		}
	}
	check("unchanged", true)
	if _, err := db.Exec(`UPDATE que_jobs SET error_count = 1 WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	check("error_count moved", false)
	if _, err := db.Exec(`UPDATE que_jobs SET error_count = 0, run_at = run_at + interval '1 s' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	check("run_at moved", false)
	if _, err := db.Exec(`UPDATE que_jobs SET run_at = run_at - interval '1 s', finished_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	check("finished", false)
	if _, err := db.Exec(`DELETE FROM que_jobs WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	check("deleted", false)
}

// TestQue2EmptyQueueIsDefault: on a Que 2.x table a Job and a Worker with
// Queue "" use Que 2's 'default', both ways, and Listen wakes on Que 2's own
// que_state notifications.
func TestQue2EmptyQueueIsDefault(t *testing.T) {
	c, _ := setup2(t)
	db, _ := que2Shared(t)
	var id int64
	if err := db.QueryRow(`INSERT INTO que_jobs (job_class, job_schema_version) VALUES ('FromRuby', 2) RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	// Each worked job sends its id and the queue its row was locked in.
	type worked struct {
		id    int64
		queue string
	}
	got := make(chan worked, 2)
	send := func(j *Job) error { got <- worked{j.ID, j.Queue}; return nil }
	p := NewWorkerPool(c, WorkMap{"FromRuby": send, "FromGo": send}, 1)
	p.Queue, p.Interval, p.Listen = "", time.Hour, true
	p.Start()
	defer p.Shutdown()
	waitFor := func(want int64) {
		t.Helper()
		select {
		case w := <-got:
			if w.id != want || w.queue != "default" {
				t.Fatalf("worked %d in queue %q, want %d in \"default\"", w.id, w.queue, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("job %d not worked", want)
		}
	}
	waitFor(id)
	// Inserted by another Client: only a notification can wake the pool,
	// whose Interval is an hour. The pool may work the job before a read
	// of its row, so the queue it was stored in is the one it was locked
	// in, as the WorkFunc saw it.
	other, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	j := enqueue(t, other, &Job{Type: "FromGo"})
	waitFor(j.ID)
}
