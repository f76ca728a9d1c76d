package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/qg-go/qg"
)

// The classes and queues of the filled table: job i is in queue i % 8 and
// of class (i / 8) % 16, so a queue has every class.
const (
	fillQueues0 = `ARRAY['', 'mailers', 'billing', 'reports', 'search', 'images', 'exports', 'webhooks']`
	fillQueues2 = `ARRAY['default', 'mailers', 'billing', 'reports', 'search', 'images', 'exports', 'webhooks']`
	fillClasses = `ARRAY['Mailer::Welcome', 'Mailer::Digest', 'Billing::Charge', 'Billing::Refund',
  'Reports::Nightly', 'Search::Reindex', 'Images::Resize', 'Exports::Csv', 'Webhooks::Deliver',
  'Cleanup::Sweep', 'Sync::Crm', 'Sync::Erp', 'Notify::Push', 'Notify::Sms', 'Audit::Log', 'Cache::Warm']`
)

// fill0 fills a Que 0.x table with $1 jobs: 30% ready, the rest scheduled
// up to a day ahead; 5% failing, 2% given up (in their dead-letter queue).
const fill0 = `INSERT INTO que_jobs (queue, priority, run_at, job_class, args, error_count, last_error)
SELECT CASE WHEN i % 50 = 0 THEN 'qg:dead:' ELSE '' END || (` + fillQueues0 + `)[1 + i % 8],
  (i % 5) * 10 + 50,
  CASE WHEN i % 10 < 3 THEN now() - (i % 3600) * interval '1 second' ELSE now() + (i % 86400) * interval '1 second' END,
  (` + fillClasses + `)[1 + (i / 8) % 16],
  json_build_array(i, 'user' || i || '@example.com', json_build_object('n', i % 100)),
  CASE WHEN i % 20 = 7 OR i % 50 = 0 THEN 1 + i % 15 ELSE 0 END,
  CASE WHEN i % 20 = 7 OR i % 50 = 0 THEN 'RuntimeError: gateway timeout ' || i END
FROM generate_series(1, $1::int) AS i`

// fill2 fills a Ruby Que 2.x table with $1 jobs as fill0 does, with kwargs,
// tags on a quarter, a backtrace on the failures, 2% expired, 2% finished
// and 1% of job_schema_version 1. The triggers' notifications are off.
const fill2 = `INSERT INTO que_jobs (queue, priority, run_at, job_class, args, kwargs, data, error_count,
  last_error_message, last_error_backtrace, expired_at, finished_at, job_schema_version)
SELECT (` + fillQueues2 + `)[1 + i % 8],
  (i % 5) * 10 + 50,
  CASE WHEN i % 10 < 3 THEN now() - (i % 3600) * interval '1 second' ELSE now() + (i % 86400) * interval '1 second' END,
  (` + fillClasses + `)[1 + (i / 8) % 16],
  jsonb_build_array(i, 'user' || i || '@example.com'),
  jsonb_build_object('locale', 'en', 'n', i % 100),
  CASE WHEN i % 4 = 0 THEN jsonb_build_object('tags', jsonb_build_array('tenant-' || (i % 30), 'bulk')) ELSE '{}' END,
  CASE WHEN i % 20 = 7 OR i % 50 = 0 THEN 1 + i % 15 ELSE 0 END,
  CASE WHEN i % 20 = 7 OR i % 50 = 0 THEN 'RuntimeError: gateway timeout ' || i END,
  CASE WHEN i % 20 = 7 OR i % 50 = 0 THEN E'app/jobs/charge.rb:12:in ''run''\nlib/que/job_methods.rb:51:in ''_run''' END,
  CASE WHEN i % 50 = 0 THEN now() - interval '1 hour' END,
  CASE WHEN i % 50 = 25 THEN now() - interval '2 hours' END,
  CASE WHEN i % 100 = 33 THEN 1 ELSE 2 END
FROM generate_series(1, $1::int) AS i`

// fillTable makes que_jobs (0: Que 0.x, 2: Ruby Que 2.x) in a database
// that has none, fills it with n jobs and analyzes it.
func fillTable(ctx context.Context, db *sql.DB, que, n int) error {
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('que_jobs') IS NOT NULL`).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return errors.New("-fill: que_jobs exists already; give an empty database")
	}
	migrate, insert := qg.Migrate, fill0
	switch que {
	case 0:
	case 2:
		migrate, insert = qg.MigrateQue2, fill2
	default:
		return fmt.Errorf("-que %d: want 0 or 2", que)
	}
	if err := migrate(ctx, db); err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET que.skip_notify = 'true'`); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, insert, n); err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	_, err = conn.ExecContext(ctx, `ANALYZE que_jobs`)
	return err
}
