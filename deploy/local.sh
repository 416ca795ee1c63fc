#!/usr/bin/env bash
# local.sh: the whole cellthread stack on one machine, and the project's test command.
#
#   deploy/local.sh up        install missing packages, build (the dashboard too), start
#                             broker, PostgreSQL and the services (traveler, alert-router,
#                             api, oee, spc-gate, ingest, linesim); waits until each is up.
#                             The first up loads deploy/config/spc-linesim.sql (specs, charts,
#                             plans, gate rules for the simulated line) and the simulated
#                             line's ideal cycle times for OEE, and makes a token for
#                             the user `local` (role quality); every up ends with the
#                             dashboard's address and a sign-in link holding that token.
#                             CT_EXTRA_SERVICES="NAME..." also starts those services the
#                             registry marks on-request, e.g. CT_EXTRA_SERVICES=fpy-report
#   deploy/local.sh down      stop services, then broker, then PostgreSQL, cleanly
#   deploy/local.sh status    what runs, on which ports (exit 0 all up, 3 something is not)
#   deploy/local.sh token NAME [viewer|operator|quality]
#                             a new API token for NAME (default role viewer), printed once on
#                             stdout; only its sha256 is stored. A NAME that has a token gets
#                             a new one with the new role, and the old one stops working
#   deploy/local.sh env       export lines for the CLI (eval "$(deploy/local.sh env)")
#   deploy/local.sh trace back|forward ID [--json] [--mqtt]
#                             the CLI's trace with the read-only `cli` credentials
#   deploy/local.sh cli ARGS...   any CLI command with those credentials
#   deploy/local.sh quality ARGS...  a CLI command as the `quality` login (lot release,
#                             inspect dispose, actions undo: decisions with a name on them)
#   deploy/local.sh psql [ARGS...] psql on the database as the read-only `cli` role
#   deploy/local.sh test      the full test suite (sanitizers on), exit code = ctest's
#
# Which services run, in what order, with which MQTT user and PostgreSQL login, and which
# users and logins get passwords: the service registry deploy/services.conf (`start` lines;
# read through deploy/scripts/registry.sh). `down` and `status` cover the default services
# and the on-request ones the last `up` started.
# All state lives under one folder, ${CT_DATA_DIR:-<repo>/data}: broker/ (config, passwd,
# persistence, log, secrets/), pg/ (cluster, log, secrets/), api/ (the local user's token,
# TLS material; owner-only), spool/ (the services' disk inboxes), logs/ (one per service,
# plus build.log), run/ (pid files, exit codes, ports). A second `up` after `down` resumes
# with the same data, ports, passwords and token.
#
# Ports: CT_MQTT_PORT, CT_PG_PORT and CT_API_PORT if set; else the ports of the previous
# run; else 1883, 5432 and 8080, or the next free port above them when those are taken (a
# system Mosquitto or PostgreSQL, say). The API listens on 127.0.0.1 (CT_API_BIND to
# change). CT_API_TLS=1: the API serves HTTPS only, with a certificate for localhost and
# 127.0.0.1 from a private CA that deploy/scripts/tls-selfsigned.sh makes in
# DATA/api/tls/ (clients trust DATA/api/tls/ca.crt). Other environment: CT_BROKER_BIND,
# CT_PG_BIND, CT_PG_FSYNC (see scripts/), CT_WERROR (test), CT_BUILD_DIR (where up builds;
# default build/local), and any setting a service documents in its --help (CT_SIM_RATE,
# CT_LOG_LEVEL, CT_API_DB_POOL, ...), which is handed to that service and no other: the
# services take only the CT_* keys they document.
#
# Packages: deploy/packages.txt, plus Node.js and npm (the dashboard's build runs `npm ci`)
# and curl when their commands are missing; as root installed with apt-get from Debian.
#
# The broker and PostgreSQL are configured by deploy/scripts/broker-config.sh and
# pg-cluster.sh, the same scripts the integration tests use.
set -euo pipefail

CT_SCRIPT=local.sh
DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$DEPLOY_DIR")
SCRIPTS=$DEPLOY_DIR/scripts
# shellcheck source-path=SCRIPTDIR source=scripts/lib.sh
. "$SCRIPTS/lib.sh"

DATA=$(abs_path "${CT_DATA_DIR:-$REPO/data}")
BUILD=$(abs_path "${CT_BUILD_DIR:-$REPO/build/local}")
TEST_BUILD=$REPO/build/test
BROKER_DIR=$DATA/broker
PG_DIR=$DATA/pg
API_DIR=$DATA/api
RUN=$DATA/run
LOGS=$DATA/logs

DEFAULT_MQTT_PORT=1883
DEFAULT_PG_PORT=5432
DEFAULT_API_PORT=8080
# The user the first `up` makes a token for (role quality), printed in the sign-in link.
LOCAL_API_USER=local
READY_TIMEOUT_S=60
STOP_TIMEOUT_S=30

CLI_BIN=$BUILD/services/cli/cellthread
MIGRATE_BIN=$BUILD/services/migrate/ct-migrate

usage() {
	sed -n '3,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# ---- the service registry ------------------------------------------------------------

# Set by load_registry and cmd_up from the registry.
REGISTRY_ENTRIES=()
MQTT_USERS=()
PG_LOGINS=()
ALL_SERVICES=()
DEFAULT_SERVICES=()
SERVICES=()

# registry_list NAME ARGS...: the global array NAME set to the lines `registry.sh ARGS`
# prints; exits when registry.sh fails (it has named the problem).
registry_list() {
	local name=$1 text
	shift
	text=$("$SCRIPTS/registry.sh" "$@") || exit 1
	if [[ -n $text ]]; then
		mapfile -t "$name" <<<"$text"
	else
		mapfile -t "$name" </dev/null
	fi
}

# load_registry: from deploy/services.conf: MQTT_USERS, PG_LOGINS (ROLE:GROUP), the services
# the local stack runs in start order (ALL_SERVICES; DEFAULT_SERVICES without the
# on-request ones) and per entry BIN_OF, MQTT_OF and PG_ROLE_OF (absent: no login).
load_registry() {
	local line name kind mqtt bin role _
	registry_list REGISTRY_ENTRIES entries
	declare -gA BIN_OF=() MQTT_OF=() PG_ROLE_OF=()
	for line in "${REGISTRY_ENTRIES[@]}"; do
		read -r name kind mqtt bin role _ <<<"$line"
		MQTT_OF[$name]=$mqtt
		[[ $kind == service ]] && BIN_OF[$name]=$bin
		[[ $role != - ]] && PG_ROLE_OF[$name]=$role
	done
	registry_list MQTT_USERS mqtt-users
	registry_list PG_LOGINS pg-logins
	registry_list ALL_SERVICES local-services all
	registry_list DEFAULT_SERVICES local-services
}

# service_bin SVC: the built executable of SVC: BUILD/services/SVC/BINARY, else the first
# BINARY anywhere under BUILD/services (a service in a folder of another name).
service_bin() {
	local bin=${BIN_OF[$1]} found
	if [[ ! -x $BUILD/services/$1/$bin && -d $BUILD/services ]]; then
		found=$(find "$BUILD/services" -name "$bin" -type f -perm -u+x -print -quit)
		if [[ -n $found ]]; then
			printf '%s\n' "$found"
			return
		fi
	fi
	printf '%s\n' "$BUILD/services/$1/$bin"
}

# service_comm SVC: the process name of SVC (/proc/PID/comm keeps 15 characters).
service_comm() {
	local bin=${BIN_OF[$1]}
	printf '%s\n' "${bin:0:15}"
}

# in_list WORD LIST...: WORD is one of LIST.
in_list() {
	local w=$1
	shift
	printf '%s\n' "$@" | grep -qxF -- "$w"
}

# stack_services: the services of this data folder, in start order: the default ones, the
# on-request ones the last `up` started (run/services), and any other still running.
stack_services() {
	local svc
	local -a recorded=()
	if [[ -r $RUN/services ]]; then
		mapfile -t recorded <"$RUN/services"
	fi
	for svc in "${ALL_SERVICES[@]}"; do
		if in_list "$svc" "${DEFAULT_SERVICES[@]}" "${recorded[@]}" || service_running "$svc"; then
			printf '%s\n' "$svc"
		fi
	done
}

# ---- packages ------------------------------------------------------------------------

# missing_packages: the names in deploy/packages.txt that dpkg does not have installed.
# (Node.js and npm are not in it: ensure_commands below.)
missing_packages() {
	local pkg status
	# shellcheck disable=SC2013 # one name per line, no spaces
	for pkg in $(cat "$DEPLOY_DIR/packages.txt"); do
		status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
		[[ $status == ii* ]] || printf '%s\n' "$pkg"
	done
}

# ensure_packages: as root installs what is missing; otherwise names the command and fails.
ensure_packages() {
	local -a missing
	if ! command -v dpkg-query >/dev/null; then
		note "not a Debian system: cannot check deploy/packages.txt; assuming it is installed"
		return 0
	fi
	mapfile -t missing < <(missing_packages)
	install_missing "missing packages" "${missing[@]}"
}

# install_missing WHAT PACKAGE...: as root installs the packages with apt-get; otherwise says
# WHAT is missing, prints the command to run and fails. Nothing to do without packages.
install_missing() {
	local what=$1
	shift
	(($# == 0)) && return 0
	if is_root; then
		note "installing: $*"
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
	else
		note "$what: $*"
		printf 'run:\n  sudo apt-get update && sudo apt-get install -y %s\n' "$*" >&2
		exit 1
	fi
}

# ensure_commands: Node.js and npm (the dashboard's build: `npm ci` from its lock file) and
# curl (the API's health and the token check), from Debian when their commands are missing.
# By command, not by package: a machine may have Node.js from elsewhere (NodeSource's nodejs
# carries npm and conflicts with Debian's npm package), and that one will do.
ensure_commands() {
	local -a missing=()
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		missing+=(nodejs npm)
	fi
	command -v curl >/dev/null || missing+=(curl)
	install_missing "missing commands; their packages" "${missing[@]}"
}

# ---- small helpers -------------------------------------------------------------------

# wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds or SECONDS pass.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# port_busy PORT: something listens on TCP PORT (any address, IPv4 or IPv6). Read from
# /proc rather than ss/netstat, which a minimal Debian does not have.
port_busy() {
	local hex files=()
	hex=$(printf ':%04X' "$1")
	[[ -r /proc/net/tcp ]] && files+=(/proc/net/tcp)
	[[ -r /proc/net/tcp6 ]] && files+=(/proc/net/tcp6)
	((${#files[@]})) || return 1
	awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 }
		END { exit !found }' "${files[@]}"
}

# choose_port NAME OVERRIDE SAVED DEFAULT: the port to use for a daemon that is not running.
choose_port() {
	local name=$1 override=$2 saved=$3 default=$4 port
	if [[ -n $override ]]; then
		check_port "$override"
		port_busy "$override" && die "$name port $override (from the environment) is in use"
		printf '%s\n' "$override"
		return
	fi
	for port in $saved $default; do
		port_busy "$port" || {
			printf '%s\n' "$port"
			return
		}
	done
	for ((port = default + 1; port <= default + 100; port++)); do
		port_busy "$port" || {
			printf '%s\n' "$port"
			return
		}
	done
	die "no free $name port in $default..$((default + 100)); set CT_${name}_PORT"
}

# load_ports: MQTT_PORT, PG_PORT, API_PORT and API_SCHEME (http or https) from the last
# run (empty when there was none).
load_ports() {
	local key value
	MQTT_PORT=''
	PG_PORT=''
	API_PORT=''
	API_SCHEME=http
	API_HOST=127.0.0.1
	[[ -r $RUN/ports ]] || return 0
	while IFS='=' read -r key value; do
		case $key in
		MQTT_PORT) [[ $value =~ ^[0-9]+$ ]] && MQTT_PORT=$value ;;
		PG_PORT) [[ $value =~ ^[0-9]+$ ]] && PG_PORT=$value ;;
		API_PORT) [[ $value =~ ^[0-9]+$ ]] && API_PORT=$value ;;
		API_SCHEME) [[ $value == https ]] && API_SCHEME=https ;;
		API_HOST) [[ $value =~ ^[0-9A-Za-z.:-]+$ ]] && API_HOST=$value ;;
		esac
	done <"$RUN/ports"
	api_url
}

save_ports() {
	printf 'MQTT_PORT=%s\nPG_PORT=%s\nAPI_PORT=%s\nAPI_SCHEME=%s\nAPI_HOST=%s\n' "$MQTT_PORT" \
		"$PG_PORT" "$API_PORT" "$API_SCHEME" "$API_HOST" | write_file "$RUN/ports" 644
}

broker_running() { pid_alive "$BROKER_DIR/mosquitto.pid" mosquitto; }
pg_running() { pid_alive "$PG_DIR/pgdata/postmaster.pid" postgres; }
service_running() { pid_alive "$RUN/$1.pid" "$(service_comm "$1")"; }

# pgpass FILE ROLE: a libpq password file for ROLE at the current port (0600, as libpq
# demands), so no password sits in a conninfo string or on a command line.
write_pgpass() {
	local file=$1 role=$2 pw
	pw=$(read_secret "$PG_DIR/secrets/$role.pgpassword")
	pw=${pw//\\/\\\\}
	pw=${pw//:/\\:}
	printf '127.0.0.1:%s:cellthread:%s:%s\n' "$PG_PORT" "$role" "$pw" | write_file "$file" 600
}

# ---- build ---------------------------------------------------------------------------

build_local() {
	local log=$LOGS/build.log
	note "building into ${BUILD#"$REPO"/} (log: $log)"
	if ! { cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCT_BUILD_TESTS=OFF &&
		cmake --build "$BUILD" -j2; } >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "build failed (last lines above; whole log: $log)"
	fi
}

# ---- broker --------------------------------------------------------------------------

start_broker() {
	CT_BROKER_PLUGIN=$BUILD/services/broker-guard/ct_broker_guard.so \
		"$SCRIPTS/broker-config.sh" "$BROKER_DIR" "$MQTT_PORT" "${MQTT_USERS[@]}"
	if broker_running; then
		# Reload passwd and ACL in case users changed.
		kill -HUP "$(cat "$BROKER_DIR/mosquitto.pid")"
		note "broker already running on port $MQTT_PORT"
		return
	fi
	# 9>&-: daemons must not inherit the lock of this script (see take_lock).
	mosquitto -d -c "$BROKER_DIR/mosquitto.conf" 9>&-
	if ! wait_until 15 broker_listening; then
		tail -n 20 "$BROKER_DIR/mosquitto.log" >&2 || true
		die "Mosquitto did not come up on port $MQTT_PORT (log: $BROKER_DIR/mosquitto.log)"
	fi
	note "broker up on 127.0.0.1:$MQTT_PORT"
}

broker_listening() { broker_running && port_busy "$MQTT_PORT"; }

stop_broker() {
	local pid
	if ! broker_running; then
		note "broker not running"
		return 0
	fi
	pid=$(cat "$BROKER_DIR/mosquitto.pid")
	kill -TERM "$pid"
	if ! wait_until "$STOP_TIMEOUT_S" pid_gone "$pid" mosquitto; then
		note "broker (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT_S}s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
		return 1
	fi
	note "broker stopped"
}

# pid_gone PID COMM: PID no longer runs COMM.
pid_gone() {
	local name
	[[ -r /proc/$1/comm ]] || return 0
	IFS= read -r name <"/proc/$1/comm" 2>/dev/null || return 0
	[[ $name != "$2" ]]
}

# mqtt_client_config: a mosquitto_sub options file with the cli credentials, so the password
# is not on a command line. Returns the XDG_CONFIG_HOME to use.
mqtt_client_config() {
	local dir=$RUN/mqtt-cli
	mkdir -p "$dir"
	chmod 700 "$dir"
	# --id-prefix: the broker guard takes only the credential's own client IDs (cli-...).
	printf -- '-h 127.0.0.1\n-p %s\n-u cli\n-P %s\n--id-prefix cli-\n' "$MQTT_PORT" \
		"$(read_secret "$BROKER_DIR/secrets/cli.password")" | write_file "$dir/mosquitto_sub" 600
	printf '%s\n' "$dir"
}

# ---- PostgreSQL ----------------------------------------------------------------------

start_pg() {
	"$SCRIPTS/pg-cluster.sh" init "$PG_DIR" "$PG_PORT"
	"$SCRIPTS/pg-cluster.sh" start "$PG_DIR" 9>&-
	"$SCRIPTS/pg-cluster.sh" provision "$PG_DIR" "$PG_PORT" "$MIGRATE_BIN" "$DEPLOY_DIR/migrations"
	local spec
	for spec in "${PG_LOGINS[@]}"; do
		write_pgpass "$PG_DIR/secrets/${spec%%:*}.pgpass" "${spec%%:*}"
	done
	seed_quality_config
	seed_oee_config
}

# seed_quality_config: the starter specs, charts, plans and gate rules for the simulated
# line, once, into an empty configuration (an engineer's own configuration is never touched).
seed_quality_config() {
	local count
	count=$(PGPASSFILE=$PG_DIR/secrets/quality.pgpass psql -X -A -t -q \
		"host=127.0.0.1 port=$PG_PORT dbname=cellthread user=quality" \
		-c "SELECT (SELECT count(*) FROM spec_limit) + (SELECT count(*) FROM spc_chart)") ||
		die "cannot read the quality configuration"
	[[ $count == 0 ]] || return 0
	PGPASSFILE=$PG_DIR/secrets/quality.pgpass psql -X -q -v ON_ERROR_STOP=1 \
		"host=127.0.0.1 port=$PG_PORT dbname=cellthread user=quality" \
		-f "$DEPLOY_DIR/config/spc-linesim.sql" ||
		die "cannot load deploy/config/spc-linesim.sql"
	note "loaded the starter quality configuration (deploy/config/spc-linesim.sql)"
}

# seed_oee_config: ideal cycle times for the simulated line's stations, once, into an empty
# oee_ideal_cycle (an engineer's own is never touched), so the demo's OEE has a performance.
# The simulator starts a cell every 1/rate s on each line and every cell station sees each
# cell: ideal cycle 1/rate s; a module every cells_per_module cells, a pack every
# cells_per_module * modules_per_pack. Electrode stations (mixing to vacuum drying) get none:
# a coil's cycle depends on its length, so their performance stays unknown (docs/oee.md).
# Skipped when the database has no OEE schema yet (migration 0011).
seed_oee_config() {
	local count
	count=$(PGPASSFILE=$PG_DIR/secrets/quality.pgpass psql -X -A -t -q \
		"host=127.0.0.1 port=$PG_PORT dbname=cellthread user=quality" \
		-c "SELECT CASE WHEN to_regclass('oee_ideal_cycle') IS NULL THEN -1
		    ELSE (SELECT count(*) FROM oee_ideal_cycle) END") ||
		die "cannot read the OEE configuration"
	[[ $count == 0 ]] || return 0
	PGPASSFILE=$PG_DIR/secrets/quality.pgpass psql -X -q -v ON_ERROR_STOP=1 \
		-v rate="${CT_SIM_RATE:-5}" -v lines="${CT_SIM_LINES:-1}" \
		-v cpm="${CT_SIM_CELLS_PER_MODULE:-12}" -v mpp="${CT_SIM_MODULES_PER_PACK:-4}" \
		"host=127.0.0.1 port=$PG_PORT dbname=cellthread user=quality" >/dev/null <<'SQL' ||
SELECT ct_oee_ideal_set('*', '*', 'L' || n || '-' || s.station, '*',
                        s.cells / :'rate'::float8)
  FROM generate_series(1, :'lines'::int) AS n,
       (VALUES ('WIND-01', 1), ('WELD-01', 1), ('INS-01', 1), ('FILL-01', 1), ('SEAL-01', 1),
               ('FORM-01', 1), ('AGE-01', 1), ('EOL-01', 1), ('VIS-01', 1),
               ('MOD-01', :'cpm'::int), ('PACK-01', :'cpm'::int * :'mpp'::int))
       AS s(station, cells);
SQL
		die "cannot set the simulated line's ideal cycle times"
	note "set the simulated line's ideal cycle times (${CT_SIM_RATE:-5} cells/s per line)"
}

# ---- services ------------------------------------------------------------------------

# service_keys BIN: the CT_* variables BIN documents in its --help, one per line.
service_keys() {
	env -i PATH="$PATH" timeout 10 "$1" --help 2>/dev/null |
		sed -n 's/.*(\(CT_[A-Z0-9_]*\))$/\1/p' || true
}

# service_env SVC: NAME=VALUE lines, the whole environment SVC starts with. Settings this
# script owns (broker URL and credentials, spool, database) win over the caller's; the
# caller's CT_* variables that SVC knows are passed; a few demo defaults fill the rest.
service_env() {
	local svc=$1 key role=${PG_ROLE_OF[$1]:-}
	local -A env=()
	local -a keys
	mapfile -t keys < <(service_keys "$(service_bin "$svc")")
	if ((${#keys[@]} == 0)); then
		note "warning: $svc --help lists no CT_* settings; passing only the stack's own"
		keys=(CT_MQTT_URL CT_MQTT_USERNAME CT_MQTT_PASSWORD CT_SPOOL_DIR CT_LOG_LEVEL)
		[[ -n $role ]] && keys+=(CT_PG_CONNINFO)
	fi

	env[CT_LOG_LEVEL]=info
	if [[ $svc == ingest ]]; then
		# The demo plant's stations and physical ranges (UNKNOWN_STATION, IMPLAUSIBLE).
		env[CT_INGEST_PLANT_FILE]=$DEPLOY_DIR/config/plant.conf
	fi
	if [[ $svc == alert-router ]]; then
		# The demo plant's teams and escalations (ct/v1/alert/team/TEAM).
		env[CT_ROUTER_ROUTES_FILE]=$DEPLOY_DIR/config/alert-routes.conf
	fi
	if [[ $svc == linesim ]]; then
		env[CT_SIM_RATE]=5
		env[CT_SIM_OBEY_COMMANDS]=true
		# Station states (breakdowns, micro-stops, changeovers) for ct-oee.
		env[CT_SIM_STATES]=true
		env[CT_SIM_DOWNTIME]=true
		env[CT_SIM_UNIT_PREFIX]=${SIM_UNIT_PREFIX:-}
	fi
	if [[ $svc == api ]]; then
		env[CT_API_BIND]=127.0.0.1
	fi
	for key in "${keys[@]}"; do
		if [[ -n ${!key+x} ]]; then
			env[$key]=${!key}
		fi
	done
	if [[ $svc == api ]]; then
		env[CT_API_WEB_ROOT]=$API_WEB_ROOT
		env[CT_API_OPENAPI_FILE]=$API_OPENAPI_FILE
		# The port this script chose (CT_API_PORT or a free one) and, with CT_API_TLS=1, the
		# certificate and key, copies that only the service's user reads (API_DIR is root's).
		env[CT_API_PORT]=$API_PORT
		unset 'env[CT_API_TLS_CERT_FILE]' 'env[CT_API_TLS_KEY_FILE]'
		if [[ $API_SCHEME == https ]]; then
			install -m 600 "$API_DIR/tls/server.crt" "$RUN/api.tls.crt"
			install -m 600 "$API_DIR/tls/server.key" "$RUN/api.tls.key"
			is_root && chown "$SERVICE_USER:" "$RUN/api.tls.crt" "$RUN/api.tls.key"
			env[CT_API_TLS_CERT_FILE]=$RUN/api.tls.crt
			env[CT_API_TLS_KEY_FILE]=$RUN/api.tls.key
		fi
	fi
	env[CT_MQTT_URL]=tcp://127.0.0.1:$MQTT_PORT
	env[CT_MQTT_USERNAME]=${MQTT_OF[$svc]}
	# The password goes in a file only its owner reads (CT_CONFIG), never on a command line
	# or in the environment, where any local user could see it (ps, /proc/PID/environ is
	# the owner's, but the supervisor's argv is everyone's).
	printf 'mqtt.password = %s\n' \
		"$(read_secret "$BROKER_DIR/secrets/${MQTT_OF[$svc]}.password")" |
		write_file "$RUN/$svc.secrets.conf" 600
	is_root && chown "$SERVICE_USER:" "$RUN/$svc.secrets.conf"
	env[CT_CONFIG]=$RUN/$svc.secrets.conf
	unset 'env[CT_MQTT_PASSWORD]'
	env[CT_SPOOL_DIR]=$DATA/spool
	if [[ -n $role ]]; then
		env[CT_PG_CONNINFO]="host=127.0.0.1 port=$PG_PORT dbname=cellthread user=$role"
		# A copy the service's user owns (libpq wants 0600); the original stays root's.
		install -m 600 "$PG_DIR/secrets/$role.pgpass" "$RUN/$svc.pgpass"
		is_root && chown "$SERVICE_USER:" "$RUN/$svc.pgpass"
		env[PGPASSFILE]=$RUN/$svc.pgpass
	fi
	# Only what the service knows (an unknown CT_* stops it), plus its secrets file and what
	# libpq reads.
	for key in "${!env[@]}"; do
		if [[ $key == PGPASSFILE || $key == CT_CONFIG ]] ||
			printf '%s\n' "${keys[@]}" | grep -qx "$key"; then
			printf '%s=%s\n' "$key" "${env[$key]}"
		fi
	done
	for key in PATH HOME LANG LC_ALL TZ TMPDIR ASAN_OPTIONS UBSAN_OPTIONS; do
		if [[ -n ${!key:-} ]]; then
			printf '%s=%s\n' "$key" "${!key}"
		fi
	done
}

# The process that runs a service: starts it, records its pid, waits, records its exit code.
# Its own process (setsid: no terminal, so Ctrl-C or closing the shell does not reach the
# services) outlives this script; `down` signals the service and reads the exit code here.
# shellcheck disable=SC2016 # expanded by the inner bash
SUPERVISOR='pidfile=$1 exitfile=$2
shift 2
"$@" &
child=$!
echo "$child" >"$pidfile"
wait "$child"
echo "$?" >"$exitfile"'

# Started as root, the stack never runs a service as root: each runs as SERVICE_USER
# (created as a system user when missing), which owns the spool and its own secrets file and
# can enter RUN (root:SERVICE_USER 0750); logs stay root's (the supervisor writes them).
# Started as anyone else, the services run as that user.
SERVICE_USER=cellthread

prepare_service_user() {
	is_root || return 0
	if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
		useradd --system --user-group --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin "$SERVICE_USER" ||
			die "cannot create the system user $SERVICE_USER (useradd)"
		note "created the system user $SERVICE_USER to run the services"
	fi
	check_user_can_reach "$SERVICE_USER" "$BUILD"
	check_user_can_reach "$SERVICE_USER" "$DATA"
	chown -R "$SERVICE_USER:" "$DATA/spool"
	chown "root:$SERVICE_USER" "$RUN"
	chmod 750 "$RUN"
}

# run_as: the command prefix that starts a service as SERVICE_USER (nothing when not root).
run_as() {
	if is_root; then
		printf '%s\n' setpriv "--reuid=$SERVICE_USER" "--regid=$SERVICE_USER" --init-groups --
	fi
}

start_service() {
	local svc=$1 bin pidfile exitfile log
	local -a env as_user
	bin=$(service_bin "$svc")
	pidfile=$RUN/$svc.pid
	exitfile=$RUN/$svc.exit
	log=$LOGS/$svc.log
	if service_running "$svc"; then
		note "$svc already running (pid $(cat "$pidfile"))"
		return
	fi
	mapfile -t env < <(service_env "$svc")
	mapfile -t as_user < <(run_as)
	rm -f "$pidfile" "$exitfile"
	LAUNCH_US[$svc]=$(date +%s%6N)
	LOG_OFFSET[$svc]=$(stat -c %s "$log" 2>/dev/null || echo 0)
	setsid bash -c "$SUPERVISOR" "ct-run-$svc" "$pidfile" "$exitfile" \
		"${as_user[@]}" env -i "${env[@]}" "$bin" >>"$log" 2>&1 </dev/null 9>&- &
	wait_until 5 test -s "$pidfile" || die "$svc did not start (log: $log)"
}

# status_fresh_online SVC: the retained ct/v1/sys/status/SVC/1 says ONLINE and was produced
# by the process we started (started_at_us or at_us not older than our launch), not left
# over from an earlier run.
status_fresh_online() {
	local svc=$1 decoded state=0 newest=0 field value launch=${LAUNCH_US[$1]}
	decoded=$(XDG_CONFIG_HOME=$MQTT_CONFIG timeout 5 mosquitto_sub -t "ct/v1/sys/status/$svc/1" \
		-C 1 -W 2 -N 2>/dev/null | protoc-c --decode_raw 2>/dev/null) || return 1
	while IFS=': ' read -r field value; do
		case $field in
		3) state=$value ;;
		5 | 6) ((value > newest)) && newest=$value ;;
		esac
	done <<<"$decoded"
	# ServiceState: 1 = SERVICE_STATE_ONLINE (proto/cellthread/v1/control.proto).
	((state == 1 && newest >= launch - 2000000))
}

# status_summary SVC: what the retained status of SVC/1 says (ServiceStatus,
# proto/cellthread/v1/control.proto): state, the loop's last progress, the spool's backlog and
# free space, and why it is PAUSED; nothing when there is no status.
status_summary() {
	local svc=$1 decoded line field value state='' reason='' progress=0 backlog=0 free=0 now
	decoded=$(XDG_CONFIG_HOME=$MQTT_CONFIG timeout 5 mosquitto_sub -t "ct/v1/sys/status/$svc/1" \
		-C 1 -W 2 -N 2>/dev/null | protoc-c --decode_raw 2>/dev/null) || return 0
	while IFS= read -r line; do
		field=${line%%:*}
		value=${line#*: }
		case $field in
		3) state=$value ;;
		7) reason=${value//\"/} ;;
		8) progress=$value ;;
		9) backlog=$value ;;
		10) free=$value ;;
		esac
	done <<<"$decoded"
	case $state in
	1) state=ONLINE ;;
	2) state=OFFLINE ;;
	3) state=DRAINING ;;
	4) state=PAUSED ;;
	*) return 0 ;;
	esac
	now=$(date +%s%6N)
	printf '%s' "$state"
	if ((progress > 0)); then
		printf ', last progress %s s ago' "$(((now - progress) / 1000000))"
	fi
	printf ', spool backlog %s KiB, %s MiB free' "$((backlog / 1024))" "$((free / 1048576))"
	if [[ -n $reason ]]; then
		printf ': %s' "$reason"
	fi
}

# logged_ready SVC: the service wrote its "ready" line since we started it.
logged_ready() {
	tail -c "+$((LOG_OFFSET[$1] + 1))" "$LOGS/$1.log" 2>/dev/null | grep -q ' ready'
}

service_up() {
	local svc=$1
	service_running "$svc" || return 2
	status_fresh_online "$svc" || logged_ready "$svc"
}

# wait_ready SVC: until SVC is up, or dies, or READY_TIMEOUT_S passes.
wait_ready() {
	local svc=$1 deadline=$((SECONDS + READY_TIMEOUT_S)) rc
	while :; do
		rc=0
		service_up "$svc" || rc=$?
		((rc == 0)) && return 0
		if ((rc == 2)); then
			wait_until 2 test -s "$RUN/$svc.exit" || true
			tail -n 15 "$LOGS/$svc.log" >&2 || true
			die "$svc exited during start-up with code $(cat "$RUN/$svc.exit" 2>/dev/null ||
				echo '?') (log: $LOGS/$svc.log); the rest keeps running:" \
				"'deploy/local.sh down' stops it"
		fi
		((SECONDS < deadline)) || {
			tail -n 15 "$LOGS/$svc.log" >&2 || true
			die "$svc is running but not up after ${READY_TIMEOUT_S}s (log: $LOGS/$svc.log);" \
				"'deploy/local.sh down' stops the stack"
		}
		sleep 0.2
	done
}

# stop_service SVC: SIGTERM, wait for the exit, report its code. Returns 1 when the service
# exited non-zero (now or, unnoticed, before) or had to be killed.
stop_service() {
	local svc=$1 pid code
	if ! service_running "$svc"; then
		rm -f "$RUN/$svc.pid"
		if [[ -s $RUN/$svc.exit && $(cat "$RUN/$svc.exit") != 0 ]]; then
			note "$svc was not running: it had exited with code $(cat "$RUN/$svc.exit")" \
				"(log: $LOGS/$svc.log)"
			return 1
		fi
		note "$svc not running"
		return 0
	fi
	pid=$(cat "$RUN/$svc.pid")
	kill -TERM "$pid"
	if ! wait_until "$STOP_TIMEOUT_S" pid_gone "$pid" "$(service_comm "$svc")"; then
		note "$svc (pid $pid) still running ${STOP_TIMEOUT_S}s after SIGTERM; killing it"
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$RUN/$svc.pid"
		return 1
	fi
	wait_until 5 test -s "$RUN/$svc.exit" || true
	code=$(cat "$RUN/$svc.exit" 2>/dev/null || echo unknown)
	rm -f "$RUN/$svc.pid"
	if [[ $code != 0 ]]; then
		note "$svc stopped with exit code $code (log: $LOGS/$svc.log)"
		return 1
	fi
	note "$svc stopped"
}

check_binaries() {
	local svc bin missing=()
	for svc in "${SERVICES[@]}"; do
		bin=$(service_bin "$svc")
		[[ -x $bin ]] || missing+=("${bin#"$REPO"/}")
	done
	if ((${#missing[@]})); then
		note "broker and PostgreSQL are up; run 'deploy/local.sh down' to stop them"
		die "not built: ${missing[*]} (is the service's CMakeLists.txt in services/CMakeLists.txt?" \
			"see $LOGS/build.log)"
	fi
}

# first_cell: a cell ID from the database, for the hint printed after `up`.
first_cell() {
	PGPASSFILE=$PG_DIR/secrets/cli.pgpass psql -X -A -t -q \
		"host=127.0.0.1 port=$PG_PORT dbname=cellthread user=cli connect_timeout=3" \
		-c "SELECT unit_id FROM unit WHERE kind = 4 ORDER BY first_seen_at LIMIT 1" 2>/dev/null
}

cell_appeared() {
	CELL=$(first_cell || true)
	[[ -n $CELL ]]
}

# ---- the API and its tokens ----------------------------------------------------------

# api_url: API_URL, where a browser on this machine reaches the API (a wildcard bind is
# reached on loopback).
api_url() {
	local host=$API_HOST
	case $host in
	0.0.0.0 | :: | '') host=127.0.0.1 ;;
	*:*) host=[$host] ;;
	esac
	API_URL=$API_SCHEME://$host:$API_PORT
}

# prepare_api: what `up` gives ct-api: API_WEB_ROOT (the dashboard the build assembled,
# unless CT_API_WEB_ROOT names another), API_OPENAPI_FILE (the source tree's, or
# CT_API_OPENAPI_FILE), API_HOST, API_SCHEME and, with CT_API_TLS=1, a certificate for
# localhost and 127.0.0.1 from tls-selfsigned.sh's private CA (kept while valid) in
# API_DIR/tls.
prepare_api() {
	API_WEB_ROOT=$(abs_path "${CT_API_WEB_ROOT:-$BUILD/services/api/web-root}")
	API_OPENAPI_FILE=$(abs_path "${CT_API_OPENAPI_FILE:-$REPO/services/api/openapi.json}")
	[[ -r $API_WEB_ROOT/index.html ]] ||
		die "the dashboard is not built ($API_WEB_ROOT/index.html; see $LOGS/build.log)"
	[[ -r $API_OPENAPI_FILE ]] || die "$API_OPENAPI_FILE is missing"
	mkdir -p "$API_DIR"
	chmod 700 "$API_DIR"
	API_HOST=${CT_API_BIND:-127.0.0.1}
	case ${CT_API_TLS:-0} in
	0) API_SCHEME=http ;;
	1)
		"$SCRIPTS/tls-selfsigned.sh" "$API_DIR/tls" localhost
		API_SCHEME=https
		;;
	*) die "CT_API_TLS='${CT_API_TLS}': 1 (HTTPS) or 0 (HTTP, the default)" ;;
	esac
	api_url
}

# api_get PATH [TOKEN]: the HTTP status of GET PATH on the local API (000 when it does not
# answer), with TOKEN as the bearer token when given; the body is dropped. The token reaches
# curl on stdin (-K -), never on its command line.
api_get() {
	local path=$1 token=${2:-} code
	local -a tls=()
	[[ $API_SCHEME == https ]] && tls=(--cacert "$API_DIR/tls/ca.crt")
	code=$(if [[ -n $token ]]; then
		printf 'header = "Authorization: Bearer %s"\n' "$token"
	fi | curl -s -K - --max-time 5 "${tls[@]}" -o /dev/null -w '%{http_code}' \
		"$API_URL$path") || true
	printf '%s\n' "${code:-000}"
}

api_healthy() { [[ $(api_get /api/v1/health) == 200 ]]; }

# mint_token NAME ROLE: a new token for NAME from ct_api_token_create (migration 0010), on
# stdout. Only the deployment's admin may call it, so it runs as ct_admin; NAME and ROLE
# reach SQL as psql variables only (:'name' is quoted by psql).
mint_token() {
	local name=$1 role=$2 token
	case $role in
	viewer | operator | quality) ;;
	*) die "unknown role '$role': viewer, operator or quality" ;;
	esac
	[[ -n $name ]] || die "no user name given"
	token=$(PGPASSWORD=$(read_secret "$PG_DIR/secrets/ct_admin.password") psql -X -A -t -q \
		-v ON_ERROR_STOP=1 -v "name=$name" -v "role=$role" \
		"host=127.0.0.1 port=$PG_PORT dbname=cellthread user=ct_admin connect_timeout=5" \
		<<<"SELECT ct_api_token_create(:'name', :'role');") ||
		die "could not make a token for '$name' (the database's reason above)"
	[[ $token =~ ^ctk_[0-9a-f]{64}$ ]] || die "ct_api_token_create gave no token for '$name'"
	printf '%s\n' "$token"
}

# ensure_local_token: LOCAL_TOKEN, the local user's token, kept owner-only in
# API_DIR/local.token; made on the first `up` (and again only if the API refuses the kept
# one, e.g. after it was revoked).
ensure_local_token() {
	local file=$API_DIR/local.token code
	LOCAL_TOKEN=''
	if [[ -s $file ]]; then
		LOCAL_TOKEN=$(read_secret "$file")
		code=$(api_get /api/v1/me "$LOCAL_TOKEN")
		case $code in
		200) return 0 ;;
		401) note "the API refuses the token in $file; making a new one" ;;
		*) die "GET $API_URL/api/v1/me answered $code (log: $LOGS/api.log)" ;;
		esac
	fi
	LOCAL_TOKEN=$(mint_token "$LOCAL_API_USER" quality)
	printf '%s\n' "$LOCAL_TOKEN" | write_file "$file" 600
	note "made a token for the user $LOCAL_API_USER (role quality), kept in $file"
}

# ---- commands ------------------------------------------------------------------------

# take_lock: one local.sh at a time per data folder (up and down racing would leave half a
# stack). The lock is fd 9; every daemon is started with 9>&- so none keeps it after we exit.
take_lock() {
	mkdir -p "$RUN"
	exec 9>"$RUN/local.lock"
	flock -n 9 || die "another deploy/local.sh is working on $DATA"
}

# next_sim_run: sets SIM_UNIT_PREFIX to R<n>- for the n-th `up` on this data folder. The
# simulator starts its counters (and, same seed, its event IDs) afresh each time; without a
# new prefix a second run would reuse the first run's unit IDs and its events would be
# dropped as already stored.
next_sim_run() {
	local n=0
	[[ -r $RUN/sim-runs ]] && n=$(cat "$RUN/sim-runs")
	[[ $n =~ ^[0-9]+$ ]] || n=0
	n=$((n + 1))
	printf '%s\n' "$n" | write_file "$RUN/sim-runs" 644
	SIM_UNIT_PREFIX=R$n-
}

cmd_up() {
	local svc
	local asked=${CT_EXTRA_SERVICES:-}
	local -a extra=()
	read -r -a extra <<<"${asked//,/ }"
	# The default services plus the on-request ones asked for (an unknown name stops here).
	registry_list SERVICES local-services "${extra[@]}"
	ensure_packages
	ensure_commands
	mkdir -p "$DATA" "$DATA/spool" "$LOGS" "$RUN"
	# The services' logs, spools and secrets files are theirs (and the operator's) alone.
	chmod 700 "$DATA/spool" "$LOGS" "$RUN"
	take_lock
	build_local
	prepare_service_user

	load_ports
	if broker_running; then
		[[ -z ${CT_MQTT_PORT:-} || ${CT_MQTT_PORT} == "$MQTT_PORT" ]] ||
			die "the broker runs on port $MQTT_PORT; run down before changing CT_MQTT_PORT"
	else
		MQTT_PORT=$(choose_port MQTT "${CT_MQTT_PORT:-}" "$MQTT_PORT" "$DEFAULT_MQTT_PORT")
	fi
	if pg_running; then
		[[ -z ${CT_PG_PORT:-} || ${CT_PG_PORT} == "$PG_PORT" ]] ||
			die "PostgreSQL runs on port $PG_PORT; run down before changing CT_PG_PORT"
	else
		PG_PORT=$(choose_port PG "${CT_PG_PORT:-}" "$PG_PORT" "$DEFAULT_PG_PORT")
	fi
	if in_list api "${SERVICES[@]}"; then
		local scheme=$API_SCHEME
		prepare_api
		if service_running api; then
			[[ -z ${CT_API_PORT:-} || ${CT_API_PORT} == "$API_PORT" ]] ||
				die "the API runs on port $API_PORT; run down before changing CT_API_PORT"
			[[ $scheme == "$API_SCHEME" ]] ||
				die "the API runs with $scheme; run down before changing CT_API_TLS"
		else
			API_PORT=$(choose_port API "${CT_API_PORT:-}" "$API_PORT" "$DEFAULT_API_PORT")
		fi
		api_url
	fi
	save_ports

	start_broker
	start_pg
	printf '%s\n' "${SERVICES[@]}" | write_file "$RUN/services" 644
	check_binaries
	MQTT_CONFIG=$(mqtt_client_config)

	next_sim_run
	declare -gA LAUNCH_US=() LOG_OFFSET=()
	for svc in "${SERVICES[@]}"; do
		start_service "$svc"
	done
	for svc in "${SERVICES[@]}"; do
		if [[ -n ${LAUNCH_US[$svc]:-} ]]; then
			wait_ready "$svc"
			note "$svc up (pid $(cat "$RUN/$svc.pid"), log $LOGS/$svc.log)"
		fi
	done

	if in_list api "${SERVICES[@]}"; then
		wait_until 30 api_healthy ||
			die "the API at $API_URL does not answer GET /api/v1/health with 200 (log:" \
				"$LOGS/api.log); 'deploy/local.sh down' stops the stack"
		ensure_local_token
	fi

	CELL=''
	wait_until 20 cell_appeared || true
	cat <<EOF

cellthread is up. Everything is under $DATA
  MQTT broker   tcp://127.0.0.1:$MQTT_PORT  users ${MQTT_USERS[*]}
                passwords: $BROKER_DIR/secrets/   log: $BROKER_DIR/mosquitto.log
  PostgreSQL    127.0.0.1:$PG_PORT  database cellthread
                roles ct_admin ${PG_LOGINS[*]%%:*}
                passwords: $PG_DIR/secrets/   log: $PG_DIR/postgresql.log
  services      ${SERVICES[*]}   logs: $LOGS/   pids: $RUN/

Try:
  deploy/local.sh trace back ${CELL:-<cell-id>}
  eval "\$(deploy/local.sh env)"; $CLI_BIN trace forward ${CELL:-<lot-or-unit-id>}
  deploy/local.sh cli alerts                        # active alerts; ack, shelve: --help
  XDG_CONFIG_HOME=$RUN/mqtt-cli mosquitto_sub -t ct/v1/alert/team/production   # as root
  deploy/local.sh token bob viewer                  # a token for another user
  deploy/local.sh status
  deploy/local.sh down
EOF
	in_list api "${SERVICES[@]}" || return 0
	cat <<EOF

The dashboard: open $API_URL/
  signed in as $LOCAL_API_USER (role quality), open:  $API_URL/#token=$LOCAL_TOKEN
  (the token is kept in $API_DIR/local.token; API: $API_URL/api/v1/, described by
  $API_URL/api/v1/openapi.json)
EOF
	if [[ $API_SCHEME == https ]]; then
		printf '  HTTPS with a private CA: trust %s in the browser (or accept its warning)\n' \
			"$API_DIR/tls/ca.crt"
	fi
}

cmd_down() {
	local i failed=0
	local -a services
	[[ -d $DATA ]] || {
		note "nothing to stop: $DATA does not exist"
		return 0
	}
	take_lock
	mapfile -t services < <(stack_services)
	for ((i = ${#services[@]} - 1; i >= 0; i--)); do
		stop_service "${services[i]}" || failed=1
	done
	stop_broker || failed=1
	"$SCRIPTS/pg-cluster.sh" stop "$PG_DIR" || failed=1
	if ((failed)); then
		die "stopped, but not everything cleanly (see above)"
	fi
	note "all stopped; 'deploy/local.sh up' resumes with the same data"
}

cmd_status() {
	local svc all=0 pid
	load_ports
	printf 'data: %s\n' "$DATA"
	if broker_running; then
		printf '%-10s running  pid %-8s tcp://127.0.0.1:%s\n' broker \
			"$(cat "$BROKER_DIR/mosquitto.pid")" "$MQTT_PORT"
	else
		printf '%-10s stopped\n' broker
		all=3
	fi
	if pg_running; then
		IFS= read -r pid <"$PG_DIR/pgdata/postmaster.pid"
		printf '%-10s running  pid %-8s 127.0.0.1:%s database cellthread\n' postgres "$pid" \
			"$PG_PORT"
	else
		printf '%-10s stopped\n' postgres
		all=3
	fi
	if broker_running; then
		MQTT_CONFIG=$(mqtt_client_config)
	fi
	for svc in $(stack_services); do
		if service_running "$svc"; then
			printf '%-10s running  pid %-8s log %s\n' "$svc" "$(cat "$RUN/$svc.pid")" \
				"$LOGS/$svc.log"
			if [[ $svc == api ]]; then
				printf '%-10s address  %s/  GET /api/v1/health: %s\n' '' "$API_URL" \
					"$(api_get /api/v1/health)"
			fi
			if [[ -n ${MQTT_CONFIG:-} ]]; then
				printf '%-10s status   %s\n' '' "$(status_summary "$svc")"
			fi
		elif [[ -s $RUN/$svc.exit ]]; then
			printf '%-10s stopped  last exit code %s\n' "$svc" "$(cat "$RUN/$svc.exit")"
			all=3
		else
			printf '%-10s stopped\n' "$svc"
			all=3
		fi
	done
	return "$all"
}

# cli_env [ENTRY]: NAME=VALUE lines for the CLI as the registry's client ENTRY (default cli,
# the read-only credentials; quality: a quality engineer's login): its MQTT user and
# PostgreSQL login.
cli_env() {
	local entry=${1:-cli} role user
	role=${PG_ROLE_OF[$entry]:-}
	user=${MQTT_OF[$entry]:-}
	[[ -n $role && -n $user ]] || die "the registry has no client '$entry' with a database login"
	load_ports
	[[ -n $PG_PORT && -r $PG_DIR/secrets/$role.pgpass ]] ||
		die "no local stack in $DATA yet; run: deploy/local.sh up"
	printf '%s\n' "CT_PG_CONNINFO=host=127.0.0.1 port=$PG_PORT dbname=cellthread user=$role" \
		"PGPASSFILE=$PG_DIR/secrets/$role.pgpass" \
		"CT_MQTT_URL=tcp://127.0.0.1:$MQTT_PORT" \
		"CT_MQTT_USERNAME=$user" \
		"CT_MQTT_PASSWORD=$(read_secret "$BROKER_DIR/secrets/$user.password")"
}

cmd_env() {
	local line
	while IFS= read -r line; do
		printf 'export %s=%q\n' "${line%%=*}" "${line#*=}"
	done < <(cli_env)
}

cmd_cli() {
	local -a env
	[[ -x $CLI_BIN ]] || die "the CLI is not built ($CLI_BIN); run: deploy/local.sh up"
	mapfile -t env < <(cli_env "${CLI_ENTRY:-cli}")
	exec env "${env[@]}" "$CLI_BIN" "$@"
}

cmd_psql() {
	load_ports
	[[ -n $PG_PORT ]] || die "no local stack in $DATA yet; run: deploy/local.sh up"
	PGPASSFILE=$PG_DIR/secrets/cli.pgpass exec psql -X \
		"host=127.0.0.1 port=$PG_PORT dbname=cellthread user=cli" "$@"
}

# cmd_token NAME [ROLE]: a new token for NAME on stdout; where to use it on stderr.
cmd_token() {
	local token
	(($# >= 1 && $# <= 2)) || usage
	load_ports
	if [[ -z $PG_PORT ]] || ! pg_running; then
		die "the stack's PostgreSQL ($DATA) is not running; run: deploy/local.sh up"
	fi
	token=$(mint_token "$1" "${2:-viewer}")
	printf '%s\n' "$token"
	note "token for $1 (role ${2:-viewer}), shown once; sign in: $API_URL/#token=$token" \
		"or send 'Authorization: Bearer <token>'"
}

cmd_test() {
	local rc=0
	ensure_packages
	ensure_commands
	note "configuring build/test (sanitizers on, CT_WERROR=${CT_WERROR:-ON})"
	cmake -S "$REPO" -B "$TEST_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCT_BUILD_TESTS=ON \
		-DCT_SANITIZE=ON "-DCT_WERROR=${CT_WERROR:-ON}"
	cmake --build "$TEST_BUILD" -j2
	# No test found is a failure, not a pass: it means the suite was not built.
	ctest --test-dir "$TEST_BUILD" --output-on-failure -j2 --no-tests=error || rc=$?
	return "$rc"
}

main() {
	(($# >= 1)) || usage
	local cmd=$1
	shift
	case $cmd in
	up | down | status | env | trace | cli | quality | psql) load_registry ;;
	esac
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	status) cmd_status "$@" ;;
	env) cmd_env "$@" ;;
	trace) cmd_cli trace "$@" ;;
	cli) cmd_cli "$@" ;;
	quality) CLI_ENTRY=quality cmd_cli "$@" ;;
	psql) cmd_psql "$@" ;;
	token) cmd_token "$@" ;;
	test) cmd_test "$@" ;;
	-h | --help | help) usage ;;
	*)
		note "unknown command '$cmd'"
		usage
		;;
	esac
}

main "$@"
