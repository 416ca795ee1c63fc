#!/bin/bash
# tester.sh: the end-to-end check of a deployed docker-compose stack (service `tester`,
# profile `test`; installed in the tester image as ct-compose-tester).
#
# It talks to the stack only as a plant would, through the broker and the database with the
# deployment's real credentials and ACL, and exits 0 only when every check passed:
#   1. simulator data in: runs ct-linesim (user linesim, its own site and unit prefix) for a
#      fixed number of cells; every table then holds exactly what linesim's summary counts
#      (visits, measurements, parameters, genealogy, environment, notes, curves, telemetry,
#      units), with no duplicate measurement.
#   2. a trace query answered: `cellthread trace back --mqtt` (ct-traveler over MQTT) for a
#      finished cell names its material lots and equals the database path; trace forward of
#      one of its lots finds the cell.
#   3. a bad message dead-lettered: garbage on an edge topic lands in dead_letter with reason
#      DECODE, an invalid JSON result with INVALID naming the field; nothing of them stored.
#   4. ACL and authentication: a gateway forging a plant-tree message is refused (MQTT v5
#      reason "not authorized", and a cli subscriber never receives it while a legitimate
#      message sent after it arrives); wrong password and anonymous logins are refused; the
#      read-only database role cannot write. The TLS listener verifies against the CA.
#   5. scale-out: TESTER_STREAM_MSGS results published as fast as one connection goes land
#      as exactly that many visits and measurements (ingest and traveler run two instances
#      each with shared subscriptions in this profile), no duplicates.
# Every wait polls a condition against a deadline (TESTER_TIMEOUT_S); no fixed sleeps.
#
# Environment (docker-compose.yml sets it): BROKER_HOST, BROKER_PORT, BROKER_TLS_HOST,
# BROKER_TLS_PORT, TLS_CA_FILE, PG_HOST, and the passwords GATEWAY_PASSWORD, CLI_PASSWORD,
# LINESIM_PASSWORD, PG_CLI_PASSWORD (given as *_FROM_FILE, see ct-entrypoint);
# TESTER_SIM_CELLS (default 40), TESTER_STREAM_MSGS (default 20000), TESTER_TIMEOUT_S (180).
set -euo pipefail

: "${BROKER_HOST:=broker}" "${BROKER_PORT:=1883}" "${BROKER_TLS_PORT:=8883}"
: "${BROKER_TLS_HOST:=$BROKER_HOST}" "${TLS_CA_FILE:=/run/secrets/tls_ca_crt}" "${PG_HOST:=db}"
: "${TESTER_SIM_CELLS:=40}" "${TESTER_STREAM_MSGS:=20000}" "${TESTER_TIMEOUT_S:=180}"

RUN_ID=$(date +%s)$((RANDOM % 1000))
SITE=T$RUN_ID
PREFIX=T$RUN_ID-
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PASSED=0
FAILED=0
T0=$SECONDS

log() { printf '[tester %4ds] %s\n' "$((SECONDS - T0))" "$*"; }
ok() {
	PASSED=$((PASSED + 1))
	log "ok: $*"
}
fail() {
	FAILED=$((FAILED + 1))
	log "FAIL: $*"
	printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
	exit 1
}

# ---- clients ---------------------------------------------------------------------------

# mqtt_conf NAME USER PASSWORD [TLS]: an XDG_CONFIG_HOME (a new folder NAME) whose
# mosquitto_pub/_sub options log in as USER (the password stays off the command line).
mqtt_conf() {
	local dir=$WORK/mqtt-$1 user=$2 password=$3 tls=${4:-} opts
	mkdir "$dir"
	if [[ -n $tls ]]; then
		opts="-h $BROKER_TLS_HOST"$'\n'"-p $BROKER_TLS_PORT"$'\n'"--cafile $TLS_CA_FILE"
	else
		opts="-h $BROKER_HOST"$'\n'"-p $BROKER_PORT"
	fi
	# The broker guard takes only client IDs of the credential's own (USER or USER-...).
	[[ -n $user ]] && opts+=$'\n'"-u $user"$'\n'"-P $password"$'\n'"--id-prefix $user-"
	printf '%s\n' "$opts" >"$dir/mosquitto_pub"
	printf '%s\n' "$opts" >"$dir/mosquitto_sub"
	chmod 600 "$dir/mosquitto_pub" "$dir/mosquitto_sub"
	printf '%s\n' "$dir"
}

# The tester's site is new on every run, so it sends edge input with the simulator's
# credential (every site); a real gateway's (site1 L1) is checked for the ACL.
GATEWAY=$(mqtt_conf gateway linesim "$LINESIM_PASSWORD")
LINE_GATEWAY=$(mqtt_conf line-gateway gw-site1-l1 "$GATEWAY_PASSWORD")
CLI=$(mqtt_conf cli cli "$CLI_PASSWORD")
CLI_TLS=$(mqtt_conf cli-tls cli "$CLI_PASSWORD" tls)
WRONG=$(mqtt_conf wrong gw-site1-l1 "not-$GATEWAY_PASSWORD")
ANON=$(mqtt_conf anonymous '' '')

pub() { # pub CONF ARGS...: mosquitto_pub with that login, QoS 1
	local conf=$1
	shift
	XDG_CONFIG_HOME=$conf timeout 60 mosquitto_pub -q 1 "$@"
}

export PGPASSWORD=$PG_CLI_PASSWORD
PG_CONNINFO="host=$PG_HOST port=5432 dbname=cellthread user=cli connect_timeout=5"

# sql QUERY: one value; :'site' and :'prefix' are this run's site and unit prefix.
sql() {
	psql -X -A -t -q -v ON_ERROR_STOP=1 -v site="$SITE" -v prefix="$PREFIX" \
		-d "$PG_CONNINFO" <<<"$1"
}

# wait_sql WHAT EXPECTED QUERY: polls QUERY until it returns EXPECTED or the deadline.
wait_sql() {
	local what=$1 expected=$2 query=$3 got='' deadline=$((SECONDS + TESTER_TIMEOUT_S))
	while :; do
		got=$(sql "$query" 2>&1) || got="error: $got"
		[[ $got == "$expected" ]] && return 0
		((SECONDS < deadline)) || fail "$what: $got after ${TESTER_TIMEOUT_S}s, expected $expected"
		sleep 0.5
	done
}

# ---- 0. the stack answers ------------------------------------------------------------

check_reachable() {
	local deadline=$((SECONDS + TESTER_TIMEOUT_S))
	until sql 'SELECT 1' >/dev/null 2>&1; do
		((SECONDS < deadline)) || fail "database $PG_HOST not reachable as cli: $(sql 'SELECT 1' 2>&1)"
		sleep 0.5
	done
	sql "SELECT count(*) FROM schema_migrations" >/dev/null ||
		fail "schema_migrations not readable: migrations did not run?"
	ok "database reachable as cli, $(sql 'SELECT count(*) FROM schema_migrations') migrations applied"
}

# ---- 1. simulator data in ------------------------------------------------------------

summary_int() { jq -er ".$1" "$WORK/linesim.json"; }

check_simulator() {
	local rc=0 results
	log "linesim: $TESTER_SIM_CELLS cells on site $SITE (unit prefix $PREFIX)"
	env -i PATH="$PATH" CT_MQTT_URL="tcp://$BROKER_HOST:$BROKER_PORT" \
		CT_MQTT_USERNAME=linesim CT_MQTT_PASSWORD="$LINESIM_PASSWORD" \
		CT_INSTANCE="tester-$RUN_ID" CT_SPOOL_DIR="$WORK/spool" CT_LOG_LEVEL=warn \
		CT_SIM_SITE="$SITE" CT_SIM_UNIT_PREFIX="$PREFIX" CT_SIM_SEED="$RUN_ID" \
		CT_SIM_CELLS="$TESTER_SIM_CELLS" CT_SIM_RATE=100 CT_SIM_TELEMETRY_HZ=10 \
		CT_SIM_SUMMARY="$WORK/linesim.json" \
		timeout "$TESTER_TIMEOUT_S" ct-linesim || rc=$?
	((rc == 0)) || fail "ct-linesim exited with $rc"
	[[ $(jq -r .complete "$WORK/linesim.json") == true ]] ||
		fail "linesim summary says not complete: $(cat "$WORK/linesim.json")"
	results=$(summary_int results)
	((results > 0)) || fail "linesim published no results"

	local visits="SELECT event_id FROM station_visit WHERE site = :'site'"
	wait_sql "station_visit rows" "$results" \
		"SELECT count(*) FROM station_visit WHERE site = :'site'"
	wait_sql "measurement rows" "$(summary_int measurements)" \
		"SELECT count(*) FROM measurement WHERE site = :'site'"
	wait_sql "process_parameter rows" "$(summary_int parameters)" \
		"SELECT count(*) FROM process_parameter WHERE event_id IN ($visits)"
	wait_sql "genealogy rows" "$(($(summary_int materials) + $(summary_int children)))" \
		"SELECT count(*) FROM genealogy WHERE event_id IN ($visits)"
	wait_sql "environment_reading rows" "$(summary_int environment_readings)" \
		"SELECT count(*) FROM environment_reading WHERE event_id IN ($visits)"
	wait_sql "visit_note rows" "$(($(summary_int notes) + $(summary_int exceptions)))" \
		"SELECT count(*) FROM visit_note WHERE event_id IN ($visits)"
	wait_sql "visit_curve rows" "$(summary_int curves)" \
		"SELECT count(*) FROM visit_curve WHERE event_id IN ($visits)"
	wait_sql "telemetry_sample rows" "$(summary_int telemetry_samples)" \
		"SELECT count(*) FROM telemetry_sample WHERE site = :'site'"
	wait_sql "units" "$(summary_int units)" \
		"SELECT count(*) FROM unit WHERE starts_with(unit_id, :'prefix')"
	wait_sql "duplicate measurements" 0 \
		"SELECT count(*) - count(DISTINCT (event_id, seq)) FROM measurement WHERE site = :'site'"
	ok "linesim -> ingest -> traveler: $results visits, $(summary_int measurements)" \
		"measurements, $(summary_int telemetry_samples) telemetry samples, $(summary_int units)" \
		"units stored exactly as published"
}

# ---- 2. trace ----------------------------------------------------------------------

check_trace() {
	local cell lot via_mqtt via_db forward
	cell=$(jq -er .first_cell "$WORK/linesim.json") || fail "linesim summary names no first_cell"
	local -a cli_env=(CT_MQTT_URL="tcp://$BROKER_HOST:$BROKER_PORT" CT_MQTT_USERNAME=cli
		CT_MQTT_PASSWORD="$CLI_PASSWORD" CT_PG_CONNINFO="$PG_CONNINFO"
		CT_PG_PASSWORD="$PG_CLI_PASSWORD")
	via_mqtt=$(env "${cli_env[@]}" timeout 60 cellthread trace back "$cell" --json --mqtt) ||
		fail "cellthread trace back $cell --mqtt failed: $via_mqtt"
	[[ $(jq -r .ok <<<"$via_mqtt") == true ]] || fail "trace over MQTT not ok: $via_mqtt"
	lot=$(jq -er '[.nodes[] | select(.kind == "material_lot")][0].unit_id' <<<"$via_mqtt") ||
		fail "trace back of $cell over MQTT names no material lot"
	via_db=$(env "${cli_env[@]}" timeout 60 cellthread trace back "$cell" --json) ||
		fail "cellthread trace back $cell (database) failed"
	[[ $via_mqtt == "$via_db" ]] || fail "trace back $cell differs between MQTT and database"
	forward=$(env "${cli_env[@]}" timeout 60 cellthread trace forward "$lot" --json --mqtt) ||
		fail "trace forward $lot failed"
	jq -e --arg c "$cell" 'any(.nodes[]; .unit_id == $c)' <<<"$forward" >/dev/null ||
		fail "trace forward of lot $lot does not reach cell $cell"
	ok "trace over MQTT answered by ct-traveler: $cell back to $(jq '.nodes | length' \
		<<<"$via_mqtt") nodes incl. lot $lot (same as the database path), forward finds it"
}

# ---- 3. dead letters ------------------------------------------------------------------

check_deadletter() {
	local topic=ct/v1/edge/$SITE/L1/BAD-01/result
	pub "$GATEWAY" -t "$topic/pb" -m "this is not protobuf $RUN_ID" ||
		fail "gateway could not publish to $topic/pb"
	pub "$GATEWAY" -t "$topic/json" -m "{\"event_id\":\"bad-$RUN_ID\",\"producer\":\"tester\",
\"produced_at_us\":$(date +%s%6N),\"unit_id\":\"${PREFIX}BAD\",\"unit_kind\":\"cell\",
\"site\":\"$SITE\",\"line\":\"L1\",\"station\":\"BAD-01\",\"recipe\":\"r\",
\"started_at_us\":$(date +%s%6N),\"ended_at_us\":$(date +%s%6N),
\"measurements\":[{\"characteristic\":\"Fill Mass\",\"value\":5.0,\"unit\":\"g\"}]}" ||
		fail "gateway could not publish to $topic/json"
	wait_sql "DECODE dead letter" 1 \
		"SELECT count(*) FROM dead_letter WHERE source_topic = 'ct/v1/edge/' || :'site' ||
		 '/L1/BAD-01/result/pb' AND reason_code = 1"
	local json_dl="FROM dead_letter WHERE source_topic = 'ct/v1/edge/' || :'site' ||
		 '/L1/BAD-01/result/json'" row
	wait_sql "dead letter of the invalid JSON result" 1 "SELECT count(*) $json_dl"
	row=$(sql "SELECT reason_code || ' ' || reason $json_dl")
	[[ $row == "3 "*characteristic* ]] ||
		fail "the invalid JSON result was dead-lettered as '$row', not INVALID (3) naming" \
			"the characteristic"
	[[ $(sql "SELECT count(*) FROM station_visit WHERE site = :'site' AND station = 'BAD-01'") == 0 ]] ||
		fail "a dead-lettered result was stored as a visit"
	ok "bad input dead-lettered: DECODE for garbage, INVALID naming the field; nothing stored"
}

# ---- 4. ACL, authentication, TLS -------------------------------------------------------

json_result() { # json_result EVENT_ID STATION: one valid result of this run
	local now
	now=$(date +%s%6N)
	printf '{"event_id":"%s","producer":"tester","produced_at_us":%s,"unit_id":"%s%s",' \
		"$1" "$now" "$PREFIX" "$1"
	printf '"unit_kind":"cell","site":"%s","line":"L1","station":"%s","recipe":"r",' "$SITE" "$2"
	printf '"started_at_us":%s,"ended_at_us":%s,"result":"ok","measurements":[' "$now" "$now"
	printf '{"characteristic":"fill_mass","value":5.0,"unit":"g"},'
	printf '{"characteristic":"ocv","value":3.6,"unit":"V"}]}\n'
}

check_acl() {
	local out rc=0 first='' marker=ct/v1/sys/status/cli/acl-$RUN_ID i sub_pid
	# A live cli subscriber (QoS 0: the broker guard queues the plant tree only for
	# services) on this site's plant tree and a marker topic of its own; the marker, sent
	# until it comes back, proves the subscription is in place before anything is sent.
	XDG_CONFIG_HOME=$CLI timeout 90 mosquitto_sub -q 0 -t "ct/v1/plant/$SITE/L1/+/result" \
		-t "$marker" -W 85 -F %t >"$WORK/acl.out" 2>&1 &
	sub_pid=$!
	for ((i = 0; i < 100; i++)); do
		pub "$CLI" -q 0 -t "$marker" -m ready || true
		grep -qx "$marker" "$WORK/acl.out" && break
		sleep 0.2
	done
	grep -qx "$marker" "$WORK/acl.out" || fail "the cli subscriber never came up"
	# The forgery: a gateway writes the plant tree, which only ingest may (ACL).
	out=$(pub "$LINE_GATEWAY" -V mqttv5 -t "ct/v1/plant/$SITE/L1/FORGED-01/result" \
		-m "forged-$RUN_ID" 2>&1) || rc=$?
	[[ $out == *"ot authorized"* ]] ||
		fail "the broker did not refuse the gateway's plant-tree publish (rc $rc: $out)"
	# Sent after the forgery and acknowledged, so the broker handled the forgery first: the
	# subscriber's first plant message must be this legitimate one, from ingest.
	json_result "acl-$RUN_ID" ACL-01 | pub "$GATEWAY" -t "ct/v1/edge/$SITE/L1/ACL-01/result/json" -s ||
		fail "gateway could not publish a legitimate result"
	for ((i = 0; i < 300; i++)); do
		first=$(grep -vx "$marker" "$WORK/acl.out" | head -n 1)
		[[ -n $first ]] && break
		sleep 0.2
	done
	kill "$sub_pid" 2>/dev/null || true
	wait "$sub_pid" 2>/dev/null || true
	[[ -n $first ]] || fail "the cli subscriber received nothing from the plant tree"
	[[ $first == "ct/v1/plant/$SITE/L1/ACL-01/result" ]] ||
		fail "the plant tree carried something else first: $first"
	ok "ACL: gateway's forged plant-tree publish refused (v5 'not authorized'), never delivered"

	rc=0
	out=$(pub "$WRONG" -t "ct/v1/edge/$SITE/L1/X/result/json" -m x 2>&1) || rc=$?
	if ((rc == 0)) || [[ $out != *"ot authori"* ]]; then
		fail "wrong password not refused (rc $rc): $out"
	fi
	rc=0
	out=$(pub "$ANON" -t "ct/v1/edge/$SITE/L1/X/result/json" -m x 2>&1) || rc=$?
	if ((rc == 0)) || [[ $out != *"ot authori"* ]]; then
		fail "anonymous login not refused (rc $rc): $out"
	fi
	ok "authentication: wrong password and anonymous logins refused"

	rc=0
	out=$(sql "INSERT INTO unit_kind VALUES (99, 'tester')" 2>&1) || rc=$?
	if ((rc == 0)) || [[ $out != *"permission denied"* ]]; then
		fail "cli role could write: $out"
	fi
	ok "database: the read-only cli role cannot write ($out)"

	rc=0
	out=$(XDG_CONFIG_HOME=$CLI_TLS timeout 30 mosquitto_sub -t "ct/v1/sys/status/#" -E -W 10 2>&1) ||
		rc=$?
	((rc == 0)) || fail "TLS listener $BROKER_TLS_HOST:$BROKER_TLS_PORT refused or failed (rc $rc): $out"
	ok "TLS listener $BROKER_TLS_HOST:$BROKER_TLS_PORT: certificate verified against the CA, login ok"
}

# ---- 5. scale-out ---------------------------------------------------------------------

check_scaleout() {
	local n=$TESTER_STREAM_MSGS t_start elapsed
	# The same JSON as json_result, made by awk: bash would take minutes for 20000 lines.
	awk -v n="$n" -v run="$RUN_ID" -v site="$SITE" -v prefix="$PREFIX" -v now="$(date +%s%6N)" '
		BEGIN { for (i = 0; i < n; i++)
			printf "{\"event_id\":\"scale-%s-%d\",\"producer\":\"tester\",\"produced_at_us\":%s," \
				"\"unit_id\":\"%sscale-%s-%d\",\"unit_kind\":\"cell\",\"site\":\"%s\",\"line\":\"L1\"," \
				"\"station\":\"SCALE-01\",\"recipe\":\"r\",\"started_at_us\":%s,\"ended_at_us\":%s," \
				"\"result\":\"ok\",\"measurements\":[{\"characteristic\":\"fill_mass\",\"value\":5.0," \
				"\"unit\":\"g\"},{\"characteristic\":\"ocv\",\"value\":3.6,\"unit\":\"V\"}]}\n",
				run, i, now, prefix, run, i, site, now, now }' >"$WORK/stream.jsonl"
	t_start=$SECONDS
	# One connection, one message per line, QoS 1.
	pub "$GATEWAY" -t "ct/v1/edge/$SITE/L1/SCALE-01/result/json" -l <"$WORK/stream.jsonl" ||
		fail "publishing the stream failed"
	log "published $n results as $n messages in $((SECONDS - t_start)) s"
	wait_sql "scale-out visits" "$n" \
		"SELECT count(*) FROM station_visit WHERE site = :'site' AND station = 'SCALE-01'"
	elapsed=$((SECONDS - t_start))
	# A sentinel behind the stream: once it is stored, nothing of the stream is still in
	# flight, so the counts below are final.
	json_result "scale-$RUN_ID-sentinel" SCALE-END |
		pub "$GATEWAY" -t "ct/v1/edge/$SITE/L1/SCALE-END/result/json" -s ||
		fail "publishing the sentinel failed"
	wait_sql "sentinel" 1 \
		"SELECT count(*) FROM station_visit WHERE site = :'site' AND station = 'SCALE-END'"
	wait_sql "scale-out visits (final)" "$n" \
		"SELECT count(*) FROM station_visit WHERE site = :'site' AND station = 'SCALE-01'"
	wait_sql "scale-out events" "$n" \
		"SELECT count(*) FROM event WHERE event_id LIKE 'scale-' || substr(:'site', 2) || '-%'
		 AND event_id NOT LIKE '%-sentinel'"
	wait_sql "scale-out measurements" "$((2 * n))" \
		"SELECT count(*) FROM measurement WHERE site = :'site' AND station = 'SCALE-01'"
	wait_sql "scale-out duplicate measurements" 0 \
		"SELECT count(*) - count(DISTINCT (event_id, seq)) FROM measurement
		 WHERE site = :'site' AND station = 'SCALE-01'"
	ok "scale-out: $n published, $n visits and $((2 * n)) measurements stored, no duplicates" \
		"(${elapsed}s through two ingest and two traveler instances)"
}

log "run $RUN_ID: broker $BROKER_HOST:$BROKER_PORT (TLS $BROKER_TLS_HOST:$BROKER_TLS_PORT)," \
	"database $PG_HOST"
check_reachable
check_simulator
check_trace
check_deadletter
check_acl
check_scaleout
log "all checks passed"
printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
