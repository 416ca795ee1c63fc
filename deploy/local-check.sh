#!/usr/bin/env bash
# local-check.sh: the local stack as a plant engineer starts it (deploy/local.sh up), checked
# for what it must never do, then stopped. CI runs it after the test suite (.ci/run).
#
#   deploy/local-check.sh
#
# Starts the whole stack on a data folder of its own (CT_DATA_DIR under /tmp, free ports),
# waits until the simulator's results are stored, ct-oee has stored figures of a station and
# of the line, and the dashboard's API shows them, then fails when
#   - a service the registry starts is not running, or runs as root (started as root, every
#     service, ct-api included, must run as `cellthread`),
#   - any process's command line holds a password or API token of the stack (MQTT,
#     PostgreSQL, the tokens `up` and `token` made),
#   - a service's environment holds one (they come in owner-only files, CT_CONFIG /
#     PGPASSFILE; tokens only as sha256 in the database),
#   - a log, spool, run or api/ file (tokens, TLS key) can be read or written by others,
#   - the API does not serve the dashboard at /, answers /api/v1/overview without a token
#     with anything but 401, or refuses the token `deploy/local.sh token` made,
# and stops the stack (`down`), which must end every service with exit code 0.
set -euo pipefail

CT_SCRIPT=local-check.sh
DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=scripts/lib.sh
. "$DEPLOY_DIR/scripts/lib.sh"

failures=0
bad() {
	printf 'local-check.sh: FAIL: %s\n' "$*" >&2
	failures=$((failures + 1))
}

DATA=$(mktemp -d /tmp/ct-local-check.XXXXXX)
# PostgreSQL and the services run as other users when we are root: they must enter it.
chmod 755 "$DATA"
export CT_DATA_DIR=$DATA
cleanup() {
	"$DEPLOY_DIR/local.sh" down >/dev/null 2>&1 || true
	rm -rf "$DATA"
}
trap cleanup EXIT

note "starting the stack in $DATA"
"$DEPLOY_DIR/local.sh" up
t_up=$SECONDS

# The simulator's results reach the database (the stack works, so the checks below look at
# a running system, not one that failed to start).
eval "$("$DEPLOY_DIR/local.sh" env)"
stored=0
for ((i = 0; i < 60; i++)); do
	stored=$(psql "$CT_PG_CONNINFO" -X -A -t -q -c "SELECT count(*) FROM station_visit" \
		2>/dev/null || echo 0)
	((stored > 0)) && break
	sleep 1
done
((stored > 0)) || bad "no station result stored within 60 s"
note "$stored station results stored"

# ct-oee computes the simulated line's figures: rows in oee_figures (its history table) for a
# station and for the line, within a minute (results make a station's pair due every
# oee.publish_interval_s, states at once).
figures=''
for ((i = 0; i < 60; i++)); do
	figures=$(psql "$CT_PG_CONNINFO" -X -A -t -q -c "SELECT count(*) FILTER (WHERE station <> '')
		|| ' ' || count(*) FILTER (WHERE station = '') FROM oee_figures" 2>/dev/null || true)
	[[ $figures =~ ^[1-9][0-9]*\ [1-9][0-9]*$ ]] && break
	sleep 1
done
if [[ $figures =~ ^[1-9][0-9]*\ [1-9][0-9]*$ ]]; then
	note "ct-oee stored figures: ${figures% *} station and ${figures#* } line rows"
else
	bad "no OEE figures of a station and of the line in oee_figures within 60 s (${figures:-none})"
fi

# The API: where `up` said, with the token `token` makes (it reaches curl on stdin, as a
# browser's header would, never on a command line).
api_port=$(sed -n 's/^API_PORT=\([0-9]\{1,5\}\)$/\1/p' "$DATA/run/ports")
api_scheme=$(sed -n 's/^API_SCHEME=\(https\{0,1\}\)$/\1/p' "$DATA/run/ports")
api_url=${api_scheme:-http}://127.0.0.1:$api_port
tls=()
[[ $api_scheme == https ]] && tls=(--cacert "$DATA/api/tls/ca.crt")
token=$("$DEPLOY_DIR/local.sh" token local-check viewer 2>/dev/null) ||
	bad "deploy/local.sh token local-check viewer failed"
# api_get PATH [TOKEN]: the status of GET PATH; the body in $DATA/body.
api_get() {
	local code
	code=$(if [[ -n ${2:-} ]]; then
		printf 'header = "Authorization: Bearer %s"\n' "$2"
	fi | curl -s -K - --max-time 10 "${tls[@]}" -o "$DATA/body" -w '%{http_code}' \
		"$api_url$1") || true
	printf '%s\n' "${code:-000}"
}
code=$(api_get /)
if [[ $code != 200 ]] || ! grep -qi '<html' "$DATA/body"; then
	bad "GET $api_url/ answered $code, not the dashboard's page"
fi
code=$(api_get /api/v1/overview)
[[ $code == 401 ]] || bad "GET /api/v1/overview without a token answered $code, not 401"
# Live data through the API: a station with a last result (the simulator's, via traveler).
seen=''
for ((i = 0; i < 60; i++)); do
	code=$(api_get /api/v1/overview "$token")
	if [[ $code == 200 ]] && node -e 'const o = JSON.parse(require("fs").readFileSync(0));
		process.exit(o.stations.some((s) => s.last_unit_id) ? 0 : 1)' <"$DATA/body" \
		2>/dev/null; then
		seen=$((SECONDS - t_up))
		break
	fi
	sleep 1
done
if [[ -n $seen ]]; then
	note "the API's overview shows stations with results ${seen} s after up returned"
else
	bad "GET /api/v1/overview with a viewer token: $code, no station with a result in 60 s"
fi
rm -f "$DATA/body"

# Every secret of the stack, to look for where it must not be: passwords and API tokens.
mapfile -t secrets < <(cat "$DATA"/broker/secrets/*.password "$DATA"/pg/secrets/*.pgpassword \
	"$DATA"/api/local.token 2>/dev/null)
[[ -n $token ]] && secrets+=("$token")
((${#secrets[@]} > 0)) || bad "no secrets found under $DATA (layout changed?)"
[[ -s $DATA/api/local.token ]] || bad "up made no token for the local user ($DATA/api/local.token)"

# Every service the registry has local.sh start runs (api included).
mapfile -t expected < <("$DEPLOY_DIR/scripts/registry.sh" local-services)
pids=()
for svc in "${expected[@]}"; do
	pid=''
	[[ -r $DATA/run/$svc.pid ]] && read -r pid <"$DATA/run/$svc.pid"
	if [[ -n $pid && -d /proc/$pid ]]; then
		pids+=("$pid")
	else
		bad "$svc is not running"
	fi
done
for pid in "${pids[@]}"; do
	comm=$(</proc/"$pid"/comm)
	uid=$(stat -c %u /proc/"$pid")
	if is_root && ((uid == 0)); then
		bad "$comm (pid $pid) runs as root"
	fi
	for secret in "${secrets[@]}"; do
		[[ -n $secret ]] || continue
		if tr '\0' '\n' <"/proc/$pid/environ" | grep -qF -- "$secret"; then
			bad "$comm (pid $pid) has a password in its environment"
		fi
	done
	note "$comm (pid $pid) runs as $(id -nu "$uid")"
done
# Command lines are everyone's to read (ps): no process may carry a secret there.
for cmdline in /proc/[0-9]*/cmdline; do
	args=$(tr '\0' ' ' <"$cmdline" 2>/dev/null) || continue
	for secret in "${secrets[@]}"; do
		if [[ -n $secret && $args == *"$secret"* ]]; then
			bad "a command line holds a password: ${cmdline%/cmdline}"
		fi
	done
done

# Logs, spools and run files: nobody else can read or change them. As root this asks the
# system (as the user nobody, so directory modes count as they do for an attacker);
# otherwise the folders themselves must give others nothing.
if is_root; then
	while IFS= read -r path; do
		if runuser -u nobody -- test -r "$path" || runuser -u nobody -- test -w "$path"; then
			bad "readable or writable by others: $path"
		fi
	done < <(find "$DATA/logs" "$DATA/spool" "$DATA/run" "$DATA/api" 2>/dev/null)
else
	while IFS= read -r path; do
		bad "folder open to others: $path"
	done < <(find "$DATA/logs" "$DATA/spool" "$DATA/run" "$DATA/api" -maxdepth 0 -perm /o+rwx)
fi

note "stopping the stack"
"$DEPLOY_DIR/local.sh" down || bad "local.sh down failed (a service did not exit cleanly)"
trap - EXIT
rm -rf "$DATA"
if ((failures > 0)); then
	die "$failures check(s) failed"
fi
note "passed: services (api included) unprivileged, no password or token on a command line" \
	"or in an environment, logs, spools, run and api files owner-only; the dashboard served," \
	"the overview 401 without a token and live with one"
