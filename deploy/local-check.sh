#!/usr/bin/env bash
# local-check.sh: the local stack as a plant engineer starts it (deploy/local.sh up), checked
# for what it must never do, then stopped. CI runs it after the test suite (.ci/run).
#
#   deploy/local-check.sh
#
# Starts the whole stack on a data folder of its own (CT_DATA_DIR under /tmp, free ports),
# waits until the simulator's results are stored, then fails when
#   - a service runs as root (started as root, every service must run as `cellthread`),
#   - any process's command line holds a password of the stack (MQTT or PostgreSQL),
#   - a service's environment holds one (they come in owner-only files, CT_CONFIG / PGPASSFILE),
#   - a log, spool or run file can be read or written by other users.
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

# Every secret of the stack, to look for where it must not be.
mapfile -t secrets < <(cat "$DATA"/broker/secrets/*.password "$DATA"/pg/secrets/*.pgpassword \
	2>/dev/null)
((${#secrets[@]} > 0)) || bad "no secrets found under $DATA (layout changed?)"

pids=()
for pidfile in "$DATA"/run/*.pid; do
	[[ -e $pidfile ]] || continue
	read -r pid <"$pidfile" || continue
	[[ -d /proc/$pid ]] && pids+=("$pid")
done
((${#pids[@]} >= 4)) || bad "only ${#pids[@]} services running (expected ingest, traveler, spc-gate, linesim)"
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
	done < <(find "$DATA/logs" "$DATA/spool" "$DATA/run" 2>/dev/null)
else
	while IFS= read -r path; do
		bad "folder open to others: $path"
	done < <(find "$DATA/logs" "$DATA/spool" "$DATA/run" -maxdepth 0 -perm /o+rwx)
fi

note "stopping the stack"
"$DEPLOY_DIR/local.sh" down || bad "local.sh down failed (a service did not exit cleanly)"
trap - EXIT
rm -rf "$DATA"
if ((failures > 0)); then
	die "$failures check(s) failed"
fi
note "passed: services unprivileged, no password on a command line or in an environment," \
	"logs, spools and run files owner-only"
