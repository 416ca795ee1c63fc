#!/usr/bin/env bash
# pg-cluster.sh: a private PostgreSQL cluster for cellthread in one folder.
#
#   pg-cluster.sh init DIR PORT
#   pg-cluster.sh start DIR
#   pg-cluster.sh stop DIR
#   pg-cluster.sh provision DIR PORT MIGRATE_BIN MIGRATIONS_DIR
#
# Layout: DIR/pgdata (the cluster), DIR/run (its Unix socket), DIR/postgresql.log (server
# log), DIR/secrets/ (ct_admin.password and ROLE.pgpassword for each login role; root or
# the caller only). Used alike by deploy/local.sh and the integration-test harness, so tests run
# against the cluster and schema users run.
#
#   init       initdb (first time only) with superuser ct_admin, SCRAM for every connection,
#              UTF8 and locale C; then (every time) writes DIR/pgdata/cellthread.conf:
#              listen address, PORT, socket dir, fsync, shared_buffers. A running server
#              takes a changed port at its next start.
#   start      pg_ctl start, waiting up to 60 s; a running cluster is left alone.
#   stop       pg_ctl stop -m fast (waits); a stopped or absent cluster is fine.
#   provision  on a running cluster: database cellthread owned by ct_admin, MIGRATE_BIN
#              --dir MIGRATIONS_DIR as ct_admin, then the login roles of the service
#              registry (deploy/services.conf, `pg ROLE GROUP` lines: registry.sh
#              pg-logins), each IN ROLE its group (made by the migrations), with generated
#              passwords (kept across runs; ALTER ROLE sets them again each time); only
#              those groups (and the owner) may connect to the database.
# All are idempotent.
#
# Environment: CT_PG_BIND (listen_addresses, default 127.0.0.1), CT_PG_FSYNC (on|off,
# default on; tests use off), CT_PG_HOST (provision only: connect to the server on this host
# over TCP instead of DIR/run's socket, for a server in another container; DIR then holds
# only secrets/, and no local cluster is checked), CT_SERVICES_CONF (the registry).
#
# As root: PostgreSQL refuses to run as root, so initdb, pg_ctl and the server run as the
# user `postgres` (made by Debian's postgresql package) through runuser; DIR/pgdata,
# DIR/run and the log are given to it and its access to DIR is checked. The server binaries
# are taken from the newest /usr/lib/postgresql/*/bin, because `pg_config --bindir` belongs
# to libpq-dev and may name another version's (client-only) directory; PATH is the fallback.
set -euo pipefail

CT_SCRIPT=pg-cluster.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

PG_USER=postgres
ADMIN=ct_admin
DATABASE=cellthread

usage() {
	cat >&2 <<'EOF'
usage: pg-cluster.sh init DIR PORT
       pg-cluster.sh start DIR
       pg-cluster.sh stop DIR
       pg-cluster.sh provision DIR PORT MIGRATE_BIN MIGRATIONS_DIR
  env: CT_PG_BIND (default 127.0.0.1), CT_PG_FSYNC (on|off, default on)
EOF
	exit 2
}

# find_pg_bin: sets PGBIN to the directory holding initdb, pg_ctl and psql.
find_pg_bin() {
	local dir version best='' best_version=0
	for dir in /usr/lib/postgresql/*/bin; do
		[[ -x $dir/initdb && -x $dir/pg_ctl ]] || continue
		# Debian names them by major version (15, 16...): keep the highest.
		version=${dir%/bin}
		version=${version##*/}
		[[ $version =~ ^[0-9]+$ ]] || continue
		if ((version > best_version)); then
			best=$dir
			best_version=$version
		fi
	done
	if [[ -z $best ]]; then
		local initdb
		initdb=$(command -v initdb || true)
		[[ -n $initdb ]] || die "initdb not found (looked in /usr/lib/postgresql/*/bin and" \
			"PATH); install Debian's postgresql package"
		best=$(dirname "$(readlink -f "$initdb")")
	fi
	PGBIN=$best
}

# psql_bin: the psql matching the server, else the one on PATH.
psql_bin() {
	if [[ -x $PGBIN/psql ]]; then
		printf '%s\n' "$PGBIN/psql"
	else
		command -v psql || die "psql not found; install Debian's postgresql-client package"
	fi
}

# as_pg CMD...: runs CMD as the cluster's owner: the postgres user when we are root, else
# ourselves. From / so that the postgres user is not left in an unreadable working directory.
as_pg() {
	if is_root; then
		(cd / && runuser -u "$PG_USER" -- "$@")
	else
		(cd / && "$@")
	fi
}

# own_for_pg PATH...: as root, gives PATHs to the postgres user.
own_for_pg() {
	if is_root; then
		chown "$PG_USER:" "$@"
	fi
}

require_pg_user() {
	if is_root; then
		id -u "$PG_USER" >/dev/null 2>&1 ||
			die "running as root needs the user '$PG_USER' (Debian's postgresql package" \
				"makes it) because PostgreSQL refuses to run as root"
	fi
}

is_initialised() {
	[[ -s $1/pgdata/PG_VERSION ]]
}

is_running() {
	is_initialised "$1" && as_pg "$PGBIN/pg_ctl" status -D "$1/pgdata" >/dev/null 2>&1
}

# conf_quote VALUE: VALUE as a single-quoted postgresql.conf string.
conf_quote() {
	printf "'%s'\n" "${1//\'/\'\'}"
}

write_settings() {
	local dir=$1 port=$2 bind=${CT_PG_BIND:-127.0.0.1} fsync=${CT_PG_FSYNC:-on}
	local socket="$dir/run/.s.PGSQL.$port"

	[[ $bind =~ ^[A-Za-z0-9.:,*\ -]*$ ]] || die "CT_PG_BIND '$bind' is not a list of addresses"
	case $fsync in
	on | off) ;;
	*) die "CT_PG_FSYNC must be on or off, not '$fsync'" ;;
	esac
	# Unix socket paths are limited to 107 bytes (sun_path); past that the server would
	# fail to start with a less obvious message.
	((${#socket} <= 107)) ||
		die "socket path $socket is ${#socket} bytes, over the 107 a Unix socket allows;" \
			"use a shorter DIR"

	write_file "$dir/pgdata/cellthread.conf" 600 <<EOF
# Written by deploy/scripts/pg-cluster.sh init on every run; change the script or its
# environment (CT_PG_BIND, CT_PG_FSYNC), not this file.
listen_addresses = $(conf_quote "$bind")
port = $port
unix_socket_directories = $(conf_quote "$dir/run")
fsync = $fsync
shared_buffers = 128MB
password_encryption = 'scram-sha-256'
# pg_ctl -l DIR/postgresql.log collects the server's stderr.
logging_collector = off
log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '
EOF
	own_for_pg "$dir/pgdata/cellthread.conf"
	if ! grep -qx "include 'cellthread.conf'" "$dir/pgdata/postgresql.conf"; then
		printf "\n# cellthread settings (deploy/scripts/pg-cluster.sh)\ninclude 'cellthread.conf'\n" \
			>>"$dir/pgdata/postgresql.conf"
	fi
}

cmd_init() {
	(($# == 2)) || usage
	local dir port pwfile
	dir=$(abs_path "$1")
	port=$2
	check_port "$port"
	find_pg_bin
	require_pg_user

	mkdir -p "$dir/secrets" "$dir/run" "$dir/pgdata"
	chmod 700 "$dir/secrets" "$dir/pgdata"
	chmod 755 "$dir/run"
	touch "$dir/postgresql.log"
	ensure_secret "$dir/secrets/$ADMIN.password"
	if is_root; then
		check_user_can_reach "$PG_USER" "$dir"
		own_for_pg "$dir/pgdata" "$dir/run" "$dir/postgresql.log"
	fi

	if is_initialised "$dir"; then
		note "cluster $dir/pgdata exists; keeping it"
	else
		# initdb reads the password from a file it opens itself, as the postgres user, who
		# must not read secrets/: a private copy in run/ that is removed right after.
		pwfile=$(mktemp "$dir/run/.pwfile.XXXXXX")
		# shellcheck disable=SC2064 # expand now: pwfile is local
		trap "rm -f '$pwfile'" EXIT
		chmod 600 "$pwfile"
		own_for_pg "$pwfile"
		read_secret "$dir/secrets/$ADMIN.password" >"$pwfile"
		local -a sync=()
		[[ ${CT_PG_FSYNC:-on} == off ]] && sync=(--no-sync)
		if ! as_pg "$PGBIN/initdb" -D "$dir/pgdata" -U "$ADMIN" --pwfile="$pwfile" \
			--auth-local=scram-sha-256 --auth-host=scram-sha-256 \
			--encoding UTF8 --locale C "${sync[@]}" >"$dir/initdb.log" 2>&1; then
			cat "$dir/initdb.log" >&2
			die "initdb failed for $dir/pgdata (output above, also in $dir/initdb.log)"
		fi
		rm -f "$pwfile" "$dir/initdb.log"
		trap - EXIT
		note "initialised $dir/pgdata (superuser $ADMIN, password in $dir/secrets/$ADMIN.password)"
	fi
	local before=''
	if [[ -r $dir/pgdata/cellthread.conf ]]; then
		before=$(cat "$dir/pgdata/cellthread.conf")
	fi
	write_settings "$dir" "$port"
	if [[ $before != "$(cat "$dir/pgdata/cellthread.conf")" ]] && is_running "$dir"; then
		note "settings changed while the cluster runs: they apply after stop and start"
	fi
}

cmd_start() {
	(($# == 1)) || usage
	local dir
	dir=$(abs_path "$1")
	find_pg_bin
	require_pg_user
	is_initialised "$dir" || die "no cluster in $dir/pgdata; run: pg-cluster.sh init $dir PORT"
	if is_running "$dir"; then
		note "already running ($dir/pgdata)"
		return 0
	fi
	# The log may have been rotated or removed; pg_ctl opens it as the postgres user.
	touch "$dir/postgresql.log"
	own_for_pg "$dir/postgresql.log"
	if ! as_pg "$PGBIN/pg_ctl" -w -t 60 -D "$dir/pgdata" -l "$dir/postgresql.log" start \
		>/dev/null; then
		tail -n 20 "$dir/postgresql.log" >&2 || true
		die "PostgreSQL did not start (last lines of $dir/postgresql.log above)"
	fi
	note "started PostgreSQL ($dir/pgdata)"
}

cmd_stop() {
	(($# == 1)) || usage
	local dir
	dir=$(abs_path "$1")
	if ! is_initialised "$dir"; then
		note "no cluster in $dir/pgdata; nothing to stop"
		return 0
	fi
	find_pg_bin
	require_pg_user
	if ! is_running "$dir"; then
		note "not running ($dir/pgdata)"
		return 0
	fi
	as_pg "$PGBIN/pg_ctl" -w -t 60 -m fast -D "$dir/pgdata" stop >/dev/null ||
		die "PostgreSQL did not stop within 60 s (see $dir/postgresql.log)"
	note "stopped PostgreSQL ($dir/pgdata)"
}

# admin_psql DIR PORT DB ARGS...: psql as ct_admin over the cluster's Unix socket. The
# password goes through the environment, never the command line (ps shows argv).
admin_psql() {
	local dir=$1 port=$2 db=$3 psql
	shift 3
	psql=$(psql_bin)
	PGPASSWORD=$(read_secret "$dir/secrets/$ADMIN.password") \
		"$psql" -X -q -v ON_ERROR_STOP=1 \
		-d "host=$(conninfo_quote "${CT_PG_HOST:-$dir/run}") port=$port user=$ADMIN dbname=$db" "$@"
}

cmd_provision() {
	(($# == 4)) || usage
	local dir port migrate_bin migrations_dir spec role group conninfo
	dir=$(abs_path "$1")
	port=$2
	migrate_bin=$3
	migrations_dir=$(abs_path "$4")
	check_port "$port"
	find_pg_bin
	require_pg_user
	[[ -x $migrate_bin ]] || die "migrator '$migrate_bin' is not an executable (build ct-migrate)"
	[[ -d $migrations_dir ]] || die "migrations directory '$migrations_dir' does not exist"
	[[ -n ${CT_PG_HOST:-} ]] || is_running "$dir" ||
		die "the cluster in $dir/pgdata is not running; run: pg-cluster.sh start $dir"

	# Login roles provision makes, ROLE:GROUP, from the registry; registry.sh admits only
	# names [a-z_][a-z0-9_]*, so they are safe as SQL identifiers below.
	local -a login_roles groups
	mapfile -t login_roles < <("$SCRIPT_DIR/registry.sh" pg-logins)
	mapfile -t groups < <("$SCRIPT_DIR/registry.sh" pg-groups)
	((${#login_roles[@]})) || die "the service registry names no PostgreSQL login role"

	# No user input reaches this SQL: names are the script's constants.
	admin_psql "$dir" "$port" postgres <<EOF
SELECT 'CREATE DATABASE $DATABASE OWNER $ADMIN ENCODING ''UTF8'''
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE') \gexec
EOF

	conninfo="host=$(conninfo_quote "${CT_PG_HOST:-$dir/run}") port=$port dbname=$DATABASE user=$ADMIN"
	local rc=0
	PGPASSWORD=$(read_secret "$dir/secrets/$ADMIN.password") \
		"$migrate_bin" --dir "$migrations_dir" --conninfo "$conninfo" || rc=$?
	case $rc in
	0) ;;
	2) die "ct-migrate refused its configuration (exit 2, reason above)" ;;
	*) die "migrations failed (ct-migrate exit $rc, reason above); the database is left as" \
		"it was after the last migration that succeeded" ;;
	esac

	# Login roles. Passwords reach psql through the environment and \getenv (psql 15+), and
	# SQL only as :'var', which psql quotes as a literal: never spliced into SQL text.
	local script="SET client_min_messages = warning;"$'\n'
	for spec in "${login_roles[@]}"; do
		role=${spec%%:*}
		group=${spec#*:}
		ensure_secret "$dir/secrets/$role.pgpassword"
		script+="\\getenv pw_$role CT_PROVISION_PW_$role
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') AS missing \\gset
\\if :missing
CREATE ROLE $role LOGIN IN ROLE $group;
\\endif
ALTER ROLE $role WITH LOGIN PASSWORD :'pw_$role';
GRANT $group TO $role;
"
	done
	# Only the service roles (and the owner) may connect to the database.
	script+="REVOKE CONNECT ON DATABASE $DATABASE FROM PUBLIC;
GRANT CONNECT ON DATABASE $DATABASE TO $(IFS=,; printf '%s' "${groups[*]}");
"
	(
		local pw
		for spec in "${login_roles[@]}"; do
			role=${spec%%:*}
			pw=$(read_secret "$dir/secrets/$role.pgpassword")
			export "CT_PROVISION_PW_$role=$pw"
		done
		admin_psql "$dir" "$port" "$DATABASE" <<<"$script"
	)
	note "provisioned database $DATABASE on port $port: roles ${login_roles[*]%%:*}" \
		"(passwords in $dir/secrets/)"
}

main() {
	(($# >= 1)) || usage
	local cmd=$1
	shift
	case $cmd in
	init) cmd_init "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	provision) cmd_provision "$@" ;;
	-h | --help | help) usage ;;
	*)
		note "unknown command '$cmd'"
		usage
		;;
	esac
}

main "$@"
