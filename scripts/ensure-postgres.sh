#!/usr/bin/env bash
# ensure-postgres.sh [URL] — make sure the PostgreSQL server named by URL is
# reachable, starting one when it is not.
#
# URL defaults to $QG_TEST_DATABASE_URL, then to
# postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
#
# In order:
#   1. the server answers already (pg_isready, else psql, else a TCP probe): done;
#   2. the URL names this machine and a local cluster is installed
#      (/etc/postgresql, pg_lsclusters): start it with pg_ctlcluster and wait
#      up to $QG_PG_WAIT seconds (default 30) for it;
#   3. the URL names this machine and Docker has a working engine:
#      `docker compose up --wait` with the repo's docker-compose.yml;
#   4. otherwise say what to install and exit 1.
set -euo pipefail

DEFAULT_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
URL="${1:-${QG_TEST_DATABASE_URL:-$DEFAULT_URL}}"
WAIT="${QG_PG_WAIT:-30}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'ensure-postgres: %s\n' "$*" >&2; }

# redacted prints URL with any password replaced by xxxxx.
redacted() { printf '%s' "$URL" | sed -E 's#(://[^:/@]+):[^@/]*@#\1:xxxxx@#'; }

# parse_url sets HOST and PORT from URL (a postgres:// URL or a key=value
# string). An empty host means the local Unix socket.
parse_url() {
	HOST='' PORT=''
	case "$URL" in
	postgres://* | postgresql://*)
		local rest="${URL#*://}"
		rest="${rest%%[/?]*}"       # user:pass@host:port
		rest="${rest##*@}"          # host:port
		if [[ "$rest" == \[* ]]; then # [::1]:5432
			HOST="${rest%%]*}"
			HOST="${HOST#[}"
			rest="${rest#*]}"
			PORT="${rest#:}"
		else
			HOST="${rest%%:*}"
			[[ "$rest" == *:* ]] && PORT="${rest#*:}"
		fi
		# host= and port= in the query string win, as in libpq.
		local query="${URL#*\?}"
		if [[ "$query" != "$URL" ]]; then
			local kv
			for kv in ${query//&/ }; do
				case "$kv" in
				host=*) HOST="${kv#host=}" ;;
				port=*) PORT="${kv#port=}" ;;
				esac
			done
		fi
		;;
	*)
		local kv
		for kv in $URL; do
			case "$kv" in
			host=*) HOST="${kv#host=}" ;;
			port=*) PORT="${kv#port=}" ;;
			esac
		done
		;;
	esac
	PORT="${PORT:-5432}"
}

# reachable reports whether the server answers.
reachable() {
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -t 3 -d "$URL"
	elif command -v psql >/dev/null 2>&1; then
		PGCONNECT_TIMEOUT=3 psql "$URL" -X -q -t -c 'select 1' >/dev/null 2>&1
	elif [[ -n "$HOST" && "$HOST" != /* ]]; then
		timeout 3 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null
	else
		return 1 # a Unix socket and no PostgreSQL client to probe it
	fi
}

# wait_ready waits up to WAIT seconds for the server to answer.
wait_ready() {
	local deadline=$((SECONDS + WAIT))
	while ((SECONDS < deadline)); do
		reachable && return 0
		sleep 0.5
	done
	reachable
}

# is_local reports whether the URL names this machine, where starting a
# server can help.
is_local() {
	case "$HOST" in
	'' | /* | localhost | 127.* | ::1) return 0 ;;
	*) return 1 ;;
	esac
}

# start_local_cluster starts the installed cluster listening on PORT (or the
# first one). It fails when no cluster is installed.
start_local_cluster() {
	local versions=()
	if [[ -d /etc/postgresql ]]; then
		mapfile -t versions < <(ls /etc/postgresql 2>/dev/null)
	fi
	((${#versions[@]} > 0)) || return 1
	command -v pg_ctlcluster >/dev/null 2>&1 || return 1
	local ver='' name='' status=''
	if command -v pg_lsclusters >/dev/null 2>&1; then
		# Columns: Ver Cluster Port Status Owner Data-directory Log-file.
		local all line
		all="$(pg_lsclusters -h 2>/dev/null || true)"
		[[ -n "$all" ]] || return 1
		line="$(awk -v p="$PORT" '$3 == p {print; exit}' <<<"$all")"
		if [[ -z "$line" ]]; then
			say "no local cluster listens on port $PORT; installed clusters:"
			printf '%s\n' "$all" >&2
			return 2
		fi
		read -r ver name _ status _ <<<"$line"
	else
		ver="${versions[-1]}" name=main
	fi
	if [[ "$status" == online* ]]; then
		say "cluster $ver/$name is running, yet $(redacted) does not answer: check the URL's host and user, and the cluster's listen_addresses and pg_hba.conf"
		return 2
	fi
	say "starting local cluster $ver/$name"
	pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start || true
	if wait_ready; then
		say "PostgreSQL $ver/$name is up at $(redacted)"
		return 0
	fi
	say "cluster $ver/$name did not answer at $(redacted) within ${WAIT}s; its log: /var/log/postgresql/postgresql-$ver-$name.log"
	return 2
}

# start_docker starts the docker-compose.yml service.
start_docker() {
	command -v docker >/dev/null 2>&1 || return 1
	timeout 10 docker info >/dev/null 2>&1 || return 1
	local compose=(docker compose)
	if ! docker compose version >/dev/null 2>&1; then
		command -v docker-compose >/dev/null 2>&1 || return 1
		compose=(docker-compose)
	fi
	say "starting PostgreSQL 15 with ${compose[*]} (docker-compose.yml)"
	(cd "$ROOT" && "${compose[@]}" up -d --wait) || return 2
	wait_ready || return 2
	say "PostgreSQL (Docker) is up at $(redacted)"
}

main() {
	parse_url
	if reachable; then
		return 0
	fi
	say "no PostgreSQL answers at $(redacted)"
	if ! is_local; then
		say "that server is not on this machine, so there is nothing to start here: start it, or point the URL elsewhere"
		exit 1
	fi
	local rc=0
	start_local_cluster || rc=$?
	((rc == 0)) && return 0
	((rc == 2)) && exit 1
	rc=0
	start_docker || rc=$?
	((rc == 0)) && return 0
	((rc == 2)) && { say "docker compose did not bring PostgreSQL up"; exit 1; }
	cat >&2 <<MSG
ensure-postgres: no PostgreSQL server is installed here, and Docker has no working engine.
Install one of:
  - PostgreSQL:  sudo apt-get install postgresql   (then: make db)
  - Docker Engine with the compose plugin   (make db then runs docker compose up --wait)
or set QG_TEST_DATABASE_URL (tests) / QG_DATABASE_URL (example) to a server you already have.
MSG
	exit 1
}

main
