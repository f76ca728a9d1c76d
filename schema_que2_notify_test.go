package qg

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v4"
)

// The two triggers of the Que 2 layout, step by step as in
// testdata/ruby-que-2.4.1/notify.jsonl: a listener registered in
// que_lockers, an actor doing what each step says.

// notifyStep runs one step of notify.jsonl on the actor's connection and
// returns the ids of the rows it inserted.
type notifyStep func(ctx context.Context, actor *pgx.Conn, rows []int64) ([]int64, error)

// insertDue inserts one SendEmail row with the given extra columns.
func insertDue(cols, values string) notifyStep {
	return func(ctx context.Context, actor *pgx.Conn, _ []int64) ([]int64, error) {
		var id int64
		err := actor.QueryRow(ctx, `INSERT INTO que_jobs (job_class, job_schema_version`+cols+`)
VALUES ('SendEmail', 2`+values+`) RETURNING id`).Scan(&id)
		return []int64{id}, err
	}
}

// onRow runs an UPDATE or DELETE on row n (1-based) of the steps so far.
func onRow(n int, stmt string) notifyStep {
	return func(ctx context.Context, actor *pgx.Conn, rows []int64) ([]int64, error) {
		_, err := actor.Exec(ctx, stmt+` WHERE id = $1`, rows[n-1])
		return nil, err
	}
}

// withSkipNotify runs step in a transaction with que.skip_notify set, as
// Que.bulk_enqueue does without notify: true.
func withSkipNotify(step notifyStep) notifyStep {
	return func(ctx context.Context, actor *pgx.Conn, rows []int64) ([]int64, error) {
		if _, err := actor.Exec(ctx, `BEGIN; SET LOCAL que.skip_notify TO true`); err != nil {
			return nil, err
		}
		ids, err := step(ctx, actor, rows)
		if err != nil {
			_, _ = actor.Exec(ctx, `ROLLBACK`)
			return nil, err
		}
		_, err = actor.Exec(ctx, `COMMIT`)
		return ids, err
	}
}

// then runs steps one after the other.
func then(steps ...notifyStep) notifyStep {
	return func(ctx context.Context, actor *pgx.Conn, rows []int64) ([]int64, error) {
		var all []int64
		for _, s := range steps {
			ids, err := s(ctx, actor, rows)
			if err != nil {
				return nil, err
			}
			all = append(all, ids...)
		}
		return all, nil
	}
}

// execStep runs a statement that inserts no row.
func execStep(stmt string) notifyStep {
	return func(ctx context.Context, actor *pgx.Conn, _ []int64) ([]int64, error) {
		_, err := actor.Exec(ctx, stmt)
		return nil, err
	}
}

var notifySteps = map[string]notifyStep{
	`insert a due row, queue default, job_schema_version 2, tags ["t1"]`: insertDue(", data", `, '{"tags": ["t1"]}'`),
	"insert a row due in one hour":                                       insertDue(", run_at", ", now() + interval '1 hour'"),
	"insert a due row in queue other (no locker listens to it)":          insertDue(", queue", ", 'other'"),
	"insert a due row with job_schema_version 1": func(ctx context.Context, actor *pgx.Conn, _ []int64) ([]int64, error) {
		var id int64
		err := actor.QueryRow(ctx, `INSERT INTO que_jobs (job_class, job_schema_version) VALUES ('SendEmail', 1) RETURNING id`).Scan(&id)
		return []int64{id}, err
	},
	"update row 1: priority only (state stays ready)":                onRow(1, `UPDATE que_jobs SET priority = 5`),
	"update row 1: error_count 1, run_at +10 s (ready -> errored)":   onRow(1, `UPDATE que_jobs SET error_count = 1, run_at = now() + interval '10 seconds'`),
	"update row 1: finished_at = now()":                              onRow(1, `UPDATE que_jobs SET finished_at = now()`),
	"update row 2: expired_at = now()":                               onRow(2, `UPDATE que_jobs SET expired_at = now()`),
	"delete row 1":                                                   onRow(1, `DELETE FROM que_jobs`),
	"Que.bulk_enqueue of 2 SendEmail jobs (default: notify false)":   withSkipNotify(then(insertDue("", ""), insertDue("", ""))),
	"Que.bulk_enqueue(notify: true) of 1 SendEmail job":              insertDue("", ""),
	"SendEmail.enqueue(1) (Que 2 single enqueue)":                    insertDue(", args", ", '[1]'"),
	"SET que.skip_notify = 'true', then a raw insert of a due row":   then(execStep(`SET que.skip_notify = 'true'`), insertDue("", ""), execStep(`RESET que.skip_notify`)),
	"update listening = false in que_lockers, then insert a due row": then(execStep(`UPDATE que_lockers SET listening = false`), insertDue("", "")),
}

// syncChannel is where the actor says a step is over: notifications are
// delivered in commit order, so once the listener sees it, it has seen all
// the step's.
const syncChannel = "qg_test_step_done"

func TestQue2TriggersMatchGoldenNotify(t *testing.T) {
	t.Parallel()
	_, url := newQue2Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	actor, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer actor.Close(ctx)
	pid := listener.PgConn().PID()
	for _, stmt := range []string{`LISTEN que_state`, fmt.Sprintf(`LISTEN que_listener_%d`, pid),
		`LISTEN ` + syncChannel, `INSERT INTO que_lockers (pid, worker_count, worker_priorities, ruby_pid,
  ruby_hostname, queues, listening, job_schema_version)
VALUES (pg_backend_pid(), 1, '{NULL}', 1, 'test', '{default}', true, 2)`} {
		if _, err := listener.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	golden := readGoldenFile[goldenNotify2](t, golden2Dir, "notify.jsonl")
	var rows []int64
	for i := 0; i < len(golden); {
		stepName := golden[i].Step
		var want []goldenNotify2
		for ; i < len(golden) && golden[i].Step == stepName; i++ {
			if golden[i].Notifications == nil {
				want = append(want, golden[i])
			}
		}
		step, ok := notifySteps[stepName]
		if !ok {
			t.Fatalf("notify.jsonl step %q has no case in this test", stepName)
		}
		ids, err := step(ctx, actor, rows)
		if err != nil {
			t.Fatalf("%s: %v", stepName, err)
		}
		rows = append(rows, ids...)
		if _, err := actor.Exec(ctx, `NOTIFY `+syncChannel); err != nil {
			t.Fatal(err)
		}
		got := receiveUntilSync(ctx, t, listener)
		if len(got) != len(want) {
			t.Errorf("%s: %d notifications, want %d: %v", stepName, len(got), len(want), got)
			continue
		}
		for k := range want {
			checkNotification(t, stepName, got[k], want[k], pid, rows, ids)
		}
	}
}

// receiveUntilSync collects the notifications before the next one on
// syncChannel.
func receiveUntilSync(ctx context.Context, t *testing.T, conn *pgx.Conn) [][2]string {
	t.Helper()
	var got [][2]string
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n.Channel == syncChannel {
			return got
		}
		got = append(got, [2]string{n.Channel, n.Payload})
	}
}

var goldenTimestamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

// checkNotification compares a notification with a line of notify.jsonl,
// whose placeholders stand for the run's pid, ids and times.
func checkNotification(t *testing.T, step string, got [2]string, want goldenNotify2, pid uint32, rows, ids []int64) {
	t.Helper()
	wantChannel := strings.ReplaceAll(want.Channel, "<listener backend pid>", strconv.Itoa(int(pid)))
	if got[0] != wantChannel {
		t.Errorf("%s: channel %q, want %q", step, got[0], wantChannel)
		return
	}
	keys, values, err := orderedObject([]byte(got[1]))
	if err != nil {
		t.Errorf("%s: payload %s: %v", step, got[1], err)
		return
	}
	if strings.Join(keys, ",") != strings.Join(want.PayloadKeys, ",") {
		t.Errorf("%s: payload keys %v, want %v", step, keys, want.PayloadKeys)
	}
	for k, w := range want.Payload {
		if !payloadValueMatches(values[k], w, rows, ids) {
			t.Errorf("%s: payload %s = %s, want %s", step, k, values[k], w)
		}
	}
}

// payloadValueMatches compares one payload value with the golden one.
func payloadValueMatches(got, want json.RawMessage, rows, ids []int64) bool {
	var placeholder string
	if json.Unmarshal(want, &placeholder) == nil && strings.HasPrefix(placeholder, "<") {
		switch {
		case placeholder == "<YYYY-MM-DDTHH:MM:SS.ffffffZ>":
			var s string
			return json.Unmarshal(got, &s) == nil && goldenTimestamp.MatchString(s)
		case placeholder == "<id>":
			return len(ids) == 1 && string(got) == strconv.FormatInt(ids[0], 10)
		case strings.HasPrefix(placeholder, "<id of row "):
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(placeholder, "<id of row "), ">"))
			return err == nil && n <= len(rows) && string(got) == strconv.FormatInt(rows[n-1], 10)
		}
	}
	var g, w any
	return json.Unmarshal(got, &g) == nil && json.Unmarshal(want, &w) == nil && fmt.Sprint(g) == fmt.Sprint(w)
}

// orderedObject decodes a JSON object, keeping its keys' order.
func orderedObject(b []byte) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not an object")
	}
	var keys []string
	values := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, key)
		values[key] = v
	}
	return keys, values, nil
}
