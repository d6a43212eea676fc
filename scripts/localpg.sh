#!/usr/bin/env bash
# localpg.sh - a PostgreSQL cluster of Teamline's own, for `make run` and tests.
#
#   scripts/localpg.sh start DIR   ensure a cluster under DIR is initialised and
#                                  running; print its DATABASE_URL as the last
#                                  (and only) line on stdout
#   scripts/localpg.sh stop DIR    stop the cluster under DIR (if running)
#
# The cluster listens only on a unix socket in DIR/socket (no TCP at all), so it
# never collides with a server the machine already runs on 5432. The port number
# only names the socket file (.s.PGSQL.5433). Authentication is "trust" for the
# role "teamline": this is a developer and test cluster, never a production one.
#
# initdb and postgres refuse to run as root. When run as root the cluster is run
# by the "postgres" system user (installing the server from Debian's packages
# first if there is none); otherwise by the invoking user.
#
# When root and the postgres user cannot reach DIR (e.g. DIR is under /root), or
# when DIR is so long that the socket path would not fit in a sockaddr_un, the
# cluster lives in /tmp/teamline-pg-<hash of DIR> instead; start and stop find it
# there again from the same DIR.
#
# Progress goes to stderr; stdout carries only the URL.
set -euo pipefail

PORT="${TEAMLINE_LOCALPG_PORT:-5433}"
DBNAME=teamline
ROLE=teamline

log() { printf 'localpg: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case "$cmd" in start | stop) ;; *) usage ;; esac
[ -n "$dir" ] || usage

is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1

# find_bin sets BIN to the directory holding initdb, pg_ctl and postgres.
find_bin() {
	BIN=
	local initdb pgctl
	initdb=$(command -v initdb 2>/dev/null || true)
	pgctl=$(command -v pg_ctl 2>/dev/null || true)
	if [ -n "$initdb" ] && [ -n "$pgctl" ]; then
		# pg_ctl finds postgres next to its own resolved path.
		BIN=$(dirname "$(readlink -f "$pgctl")")
		return 0
	fi
	local d best=
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && best=$d
	done
	BIN=$best
	[ -n "$BIN" ]
}

# as_owner runs a command as the user who owns the cluster.
as_owner() {
	if [ "$is_root" -eq 1 ]; then
		# From /: the invoking user's cwd may be closed to postgres.
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# urlencode percent-encodes a query parameter value (keeps / unescaped).
urlencode() {
	local s=$1 out= c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case "$c" in
		[a-zA-Z0-9/._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

# Resolve DIR to an absolute path, from any working directory.
if [ "$cmd" = stop ] && [ ! -d "$dir" ]; then
	log "$dir does not exist; nothing to stop"
	exit 0
fi
created=0
if [ ! -d "$dir" ]; then
	mkdir -p "$dir"
	created=1
fi
dir=$(cd "$dir" && pwd -P)

# base is where data/ and socket/ live: DIR itself, or the fallback in /tmp.
fallback="/tmp/teamline-pg-$(printf '%s' "$dir" | sha256sum | cut -c1-16)"
base=$dir
# sockaddr_un holds 107 bytes plus NUL: keep a margin.
if [ $((${#dir} + ${#PORT} + 19)) -gt 100 ]; then
	base=$fallback
fi

if ! find_bin; then
	if [ "$cmd" = stop ]; then
		log "no PostgreSQL server installed; nothing to stop"
		exit 0
	fi
	if [ "$is_root" -eq 1 ]; then
		log "no PostgreSQL server found; installing Debian's postgresql package"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update >&2
		apt-get install -y --no-install-recommends postgresql >&2
		find_bin || die "postgresql installed but initdb/pg_ctl still not found"
	else
		log "no PostgreSQL server found (initdb, pg_ctl); install it with:"
		echo "sudo apt-get install -y postgresql" >&2
		exit 1
	fi
fi
log "using PostgreSQL binaries in $BIN"

if [ "$is_root" -eq 1 ]; then
	id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' system user to run the server"
	if [ "$base" = "$dir" ]; then
		# DIR is the cluster's home: hand a new or empty one to postgres.
		if [ "$created" -eq 1 ] || [ -z "$(ls -A "$dir")" ]; then
			chown postgres: "$dir"
		fi
		# postgres must be able to traverse every directory down to DIR.
		if ! runuser -u postgres -- test -x "$dir"; then
			base=$fallback
		fi
	fi
fi

if [ "$base" != "$dir" ]; then
	if [ "$cmd" = stop ] && [ ! -d "$base" ]; then
		log "no cluster for $dir; nothing to stop"
		exit 0
	fi
	if [ -L "$base" ] || { [ -e "$base" ] && [ ! -d "$base" ]; }; then
		die "$base exists and is not a directory"
	fi
	mkdir -p -m 0755 "$base"
	if [ "$is_root" -eq 1 ]; then
		[ "$(stat -c %U "$base")" = postgres ] || [ -z "$(ls -A "$base")" ] || die "$base is not owned by postgres"
		chown postgres: "$base"
	else
		[ "$(stat -c %u "$base")" = "$(id -u)" ] || die "$base is not owned by $(id -un)"
	fi
	log "cluster for $dir lives in $base"
fi

data=$base/data
sock=$base/socket

# Serialise concurrent start/stop on the same cluster.
exec 9>>"$base/.localpg.lock"
flock -w 60 9 || die "timed out waiting for the lock on $base"

running() {
	[ -f "$data/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

if [ "$cmd" = stop ]; then
	if running; then
		log "stopping the cluster in $data"
		as_owner "$BIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >&2
	else
		log "the cluster in $data is not running"
	fi
	exit 0
fi

# start
owner_mkdir() { # owner_mkdir MODE DIR
	if [ "$is_root" -eq 1 ]; then
		install -d -o postgres -g postgres -m "$1" "$2"
	else
		install -d -m "$1" "$2"
	fi
}

if [ ! -f "$data/PG_VERSION" ]; then
	log "initialising a new cluster in $data"
	owner_mkdir 0700 "$data"
	as_owner "$BIN/initdb" -D "$data" -A trust -U "$ROLE" --encoding=UTF8 --no-locale \
		--no-sync --no-instructions >&2
	echo "include_if_exists = 'teamline.conf'" | as_owner tee -a "$data/postgresql.conf" >/dev/null
fi
owner_mkdir 0755 "$sock"

# Written on every start so that the socket follows DIR.
as_owner tee "$data/teamline.conf" >/dev/null <<EOF
# Written by Teamline's scripts/localpg.sh on every start; edits are lost.
listen_addresses = ''
port = $PORT
unix_socket_directories = '$sock'
unix_socket_permissions = 0777
# A developer and test cluster: speed over durability across an OS crash.
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF

if running; then
	log "the cluster in $data is already running"
else
	log "starting the cluster in $data"
	# 9>&-: the server must not inherit (and hold) the lock.
	if ! as_owner "$BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 start >&2 9>&-; then
		tail -n 20 "$data/server.log" >&2 || true
		die "the cluster in $data did not start"
	fi
fi

psql=$BIN/psql
[ -x "$psql" ] || psql=$(command -v psql) || die "psql not found"
exists=$("$psql" -X -q -h "$sock" -p "$PORT" -U "$ROLE" -d postgres -Atc \
	"select 1 from pg_database where datname = '$DBNAME'")
if [ "$exists" != 1 ]; then
	log "creating database $DBNAME"
	"$psql" -X -q -h "$sock" -p "$PORT" -U "$ROLE" -d postgres -c "create database $DBNAME" >&2
fi

echo "postgres://$ROLE@/$DBNAME?host=$(urlencode "$sock")&port=$PORT"
