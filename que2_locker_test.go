package qg

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v4"
)

// What a Ruby Que 2 locker relies on while Go workers run beside it: qg
// never registers in que_lockers, so Que 2's que_job_notify keeps sending
// every due job of the locker's queue to the locker's own channel, whatever
// Go does. The locker here is the listening half of Ruby's, as
// testdata/ruby-que-2.4.1/README.md describes it: it LISTENs on
// que_listener_<pid> and registers as listening for its queue.

// rubyLocker is a session that LISTENs as a Ruby Que 2 locker of queue.
func rubyLocker(ctx context.Context, tb testing.TB, url, queue string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	for _, stmt := range []string{`LISTEN que_listener_` + fmt.Sprint(conn.PgConn().PID()),
		`INSERT INTO que_lockers (pid, worker_count, worker_priorities, ruby_pid, ruby_hostname, queues, listening, job_schema_version)
VALUES (pg_backend_pid(), 4, '{NULL}', 1, 'ruby-test', ARRAY['` + queue + `'], true, 2)`} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			tb.Fatal(err)
		}
	}
	return conn
}

// insertRubyJob inserts a due job of queue as a Ruby producer does (a raw
// INSERT notifies as Que.enqueue does) and returns its id.
func insertRubyJob(ctx context.Context, tb testing.TB, conn *pgx.Conn, queue string) int64 {
	tb.Helper()
	var id int64
	err := conn.QueryRow(ctx, `INSERT INTO public.que_jobs (queue, job_class, args, job_schema_version)
VALUES ($1, 'RubyMade', '[]', 2) RETURNING id`, queue).Scan(&id)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// awaitJobAvailable waits for the locker's job_available message and
// returns the id it names.
func awaitJobAvailable(ctx context.Context, tb testing.TB, locker *pgx.Conn) int64 {
	tb.Helper()
	n, err := locker.WaitForNotification(ctx)
	if err != nil {
		tb.Fatalf("the Ruby locker got no job_available: %v", err)
	}
	var m struct {
		MessageType string `json:"message_type"`
		ID          int64  `json:"id"`
	}
	if err := json.Unmarshal([]byte(n.Payload), &m); err != nil || m.MessageType != "job_available" {
		tb.Fatalf("the Ruby locker got %q on %s", n.Payload, n.Channel)
	}
	return m.ID
}

// TestQue2RubyLockerNotifiedBesideGoWorkers runs a Listen WorkerPool on a
// Ruby locker's queue and checks that the locker is still told of every job
// Ruby enqueues there, and that qg registered nothing in que_lockers.
func TestQue2RubyLockerNotifiedBesideGoWorkers(t *testing.T) {
	t.Parallel()
	db, url := newQue2Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const queue = "ruby_locker"
	locker := rubyLocker(ctx, t, url, queue)
	c, err := NewClient2(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := NewWorkerPool(c, WorkMap{"RubyMade": func(*Job) error { return nil }}, 4)
	p.Queue, p.Listen, p.Interval = queue, true, 10*time.Millisecond
	p.Start()
	defer p.Shutdown()
	producer, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close(context.Background())
	for range 50 {
		id := insertRubyJob(ctx, t, producer, queue)
		if got := awaitJobAvailable(ctx, t, locker); got != id {
			t.Fatalf("the Ruby locker was told of job %d, want %d", got, id)
		}
	}
	var lockers int
	if err := db.QueryRow(`SELECT count(*) FROM que_lockers`).Scan(&lockers); err != nil {
		t.Fatal(err)
	}
	if lockers != 1 {
		t.Errorf("que_lockers has %d rows with qg's pool running; want the Ruby locker's alone", lockers)
	}
}

// BenchmarkQue2RubyLockerNotify measures a Ruby Que 2 locker's pickup
// latency for jobs Ruby enqueues, from the INSERT to its job_available
// message (ns/op): alone; with a Listen WorkerPool of 4 workers on another
// queue (qg only listening to que_state beside it); and with that pool
// working the locker's own queue, taking each job as it comes. The last
// shows what the work itself costs the server beside Ruby, on the same
// machine: see docs/que2.md.
func BenchmarkQue2RubyLockerNotify(b *testing.B) {
	for _, tc := range []struct {
		name    string
		qgQueue string // "": no qg pool
	}{{"alone", ""}, {"qg_pool_other_queue", "qg_own"}, {"qg_pool_same_queue", "ruby_locker"}} {
		b.Run(tc.name, func(b *testing.B) {
			db, url := scratchDatabase(b, "qg_que2_bench")
			ctx := context.Background()
			if err := MigrateQue2(ctx, db); err != nil {
				b.Fatal(err)
			}
			const queue = "ruby_locker"
			locker := rubyLocker(ctx, b, url, queue)
			if tc.qgQueue != "" {
				c, err := NewClient2(db)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				p := NewWorkerPool(c, WorkMap{"RubyMade": func(*Job) error { return nil }}, 4)
				p.Queue, p.Listen, p.Interval = tc.qgQueue, true, time.Second
				p.Start()
				defer p.Shutdown()
			}
			producer, err := pgx.Connect(ctx, url)
			if err != nil {
				b.Fatal(err)
			}
			defer producer.Close(ctx)
			b.ResetTimer()
			for range b.N {
				insertRubyJob(ctx, b, producer, queue)
				awaitJobAvailable(ctx, b, locker)
			}
		})
	}
}
