#!/bin/sh
# profile.sh: one bench run with the server side watched, for a server you
# may reconfigure (your own cluster, never a shared one):
#
#   shared_preload_libraries = 'pg_stat_statements'   (then restart it)
#
#   QG_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5436/postgres?sslmode=disable \
#     sh profile.sh OUTDIR -workloads W5 -tx-concurrency 16 -runs 1
#
# It resets pg_stat_statements, samples the wait events of the benchmark's
# sessions (pg_stat_activity, every 20 ms, from one server-side loop) while
# `go run .` runs with the given flags and a Go CPU profile, and writes to
# OUTDIR: the report (report.md), the progress log (log.txt), the Go CPU
# profile (cpu.pprof, top of it in pprof.txt), the statements by total time
# (statements.txt) and the wait events by share of samples (waits.txt).
set -eu
out=$1
shift
url=${QG_BENCH_DATABASE_URL:?set QG_BENCH_DATABASE_URL to a server you may reconfigure}
mkdir -p "$out"
psql "$url" -qAt -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
	-c "SELECT pg_stat_statements_reset()" \
	-c "DROP TABLE IF EXISTS bench_wait_samples" \
	-c "CREATE TABLE bench_wait_samples (at timestamptz, datname text, app text, state text, wait text)" \
	-c "DROP TABLE IF EXISTS bench_dbs" -c "CREATE TABLE bench_dbs (oid oid PRIMARY KEY, datname text)" >/dev/null
# The sampler runs until the stop file is gone from the server's view: it
# polls a one-row table the script empties at the end.
psql "$url" -qAt -c "DROP TABLE IF EXISTS bench_wait_run" -c "CREATE TABLE bench_wait_run AS SELECT 1 AS go" >/dev/null
psql "$url" -qAt >/dev/null 2>&1 <<'SQL' &
DO $$
BEGIN
  WHILE EXISTS (SELECT 1 FROM bench_wait_run) LOOP
    PERFORM pg_stat_clear_snapshot();
    INSERT INTO bench_wait_samples
    SELECT now(), datname, CASE WHEN application_name = 'pgbench' THEN 'pgbench' ELSE 'go' END, state,
      coalesce(wait_event_type || ':' || wait_event, 'CPU')
    FROM pg_stat_activity
    WHERE datname LIKE 'qg_bench_%' AND pid <> pg_backend_pid() AND state <> 'idle';
    INSERT INTO bench_dbs SELECT oid, datname FROM pg_database WHERE datname LIKE 'qg_bench_%'
    ON CONFLICT DO NOTHING;
    COMMIT;
    PERFORM pg_sleep(0.02);
  END LOOP;
END
$$;
SQL
sampler=$!
status=0
go run . -cpuprofile "$out/cpu.pprof" "$@" >"$out/report.md" 2>"$out/log.txt" || status=$?
psql "$url" -qAt -c "DELETE FROM bench_wait_run" >/dev/null
wait "$sampler" || true
go tool pprof -top -nodecount=40 "$out/cpu.pprof" >"$out/pprof.txt" 2>/dev/null || true
psql "$url" -q -c "SELECT d.datname, calls, rows, round(total_exec_time::numeric, 0) AS total_ms,
  round(mean_exec_time::numeric, 3) AS mean_ms, wal_bytes,
  left(regexp_replace(query, '\s+', ' ', 'g'), 80) AS query
FROM pg_stat_statements AS s JOIN bench_dbs AS d ON d.oid = s.dbid
ORDER BY total_exec_time DESC LIMIT 60" >"$out/statements.txt"
psql "$url" -q -c "SELECT datname, app, state, wait, count(*) AS samples,
  round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY datname, app), 1) AS pct
FROM bench_wait_samples GROUP BY datname, app, state, wait HAVING count(*) >= 10
ORDER BY datname, app, samples DESC" >"$out/waits.txt"
exit "$status"
