#!/usr/bin/env bash
# compose-check.sh: the docker-compose deployment, built and tested for real.
#
#   deploy/compose-check.sh            (as root on Debian 12; CI runs it from .ci/run)
#
# 1. Installs docker.io, docker-compose (1.29), debootstrap and curl when missing (apt-get).
# 2. Uses the Docker daemon that runs; when none does, starts /usr/sbin/dockerd itself and
#    stops that one (and only that one) at the end.
# 3. The base image: CT_BASE_IMAGE when set (e.g. debian:bookworm-slim where a registry is
#    reachable); otherwise cellthread-base:bookworm, made once with `debootstrap --variant=
#    minbase bookworm` from the Debian mirror apt already uses, then `docker import`ed (kept
#    for the next run; CT_REBUILD_BASE=1 makes it again).
# 4. Builds every image of deploy/Dockerfile (BuildKit) as ctcheck/<stage>:check, so a plant's
#    own cellthread/* images and its stack are never touched.
# 5. Fresh credentials and TLS material (deploy/compose/setup.sh) in a temporary folder;
#    `docker-compose -p ctcheck --profile test up -d` on free host ports: broker, db,
#    migrate, two ingest and two traveler instances, spc-gate, alert-router, oee, api, each
#    waited for through its health check (api: GET /api/v1/health answers 200); then the
#    tester (deploy/compose/tester.sh) runs end to end.
# 6. Its exit code decides, plus what only the host sees: every service ran as a non-root
#    user with its resource limits; the api, on its published loopback port, serves the
#    dashboard at /, answers /api/v1/overview with 401 without a token and with 200 and the
#    tester's stations with a token minted by `docker-compose exec db ct-api-token`; ct-oee
#    stored OEE figures of the tester's stations and line (oee_figures); after a SIGTERM
#    stop every service (ingest, traveler, spc-gate, alert-router, oee, api) exited 0;
#    alert-router recorded the others' clean stops as SERVICE_OFFLINE; each traveler
#    instance stored a share of the events and together exactly the rows the database holds
#    (shared subscription: none to both or neither).
# 7. Tears the project down with its volumes (also what an interrupted earlier run left).
# Exit 0 when all passed; 1 otherwise, with the logs of the failing containers.
#
# Environment: CT_BASE_IMAGE, CT_REBUILD_BASE, CT_CHECK_PROJECT (default ctcheck),
# CT_CHECK_KEEP=1 (leave the stack up for inspection), TESTER_SIM_CELLS, TESTER_STREAM_MSGS.
set -euo pipefail

CT_SCRIPT=compose-check.sh
DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$DEPLOY_DIR")
# shellcheck source-path=SCRIPTDIR source=scripts/lib.sh
. "$DEPLOY_DIR/scripts/lib.sh"

# Debian's docker client (with its built-in BuildKit) and dockerd, before anything in
# /usr/local/bin (some machines carry a static client there that cannot build).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1

PROJECT=${CT_CHECK_PROJECT:-ctcheck}
BASE_TAG=cellthread-base:bookworm
PACKAGES=(docker.io docker-compose debootstrap curl)
STAGES=(runtime broker db tester)
SCALED=(ingest ingest-2 traveler traveler-2)
# Every long-running service of the test profile.
SERVICES=("${SCALED[@]}" spc-gate alert-router oee api)
UP_TIMEOUT_S=600
TESTER_TIMEOUT_S=1200

export CT_IMAGE_REPO=$PROJECT CT_IMAGE_TAG=check
export CT_BROKER_HOSTNAME=broker.cellthread.test
# The tester invents a site per run, which the demo plant registry does not name: the
# registry itself is tested by the integration tests (test_edge_trust).
export CT_PLANT_FILE=
export CT_MQTT_BIND=127.0.0.1 CT_MQTTS_BIND=127.0.0.1

WORK=''
STARTED_DOCKERD=''
STACK_UP=0

log() { printf '%s [%s] %s\n' "$CT_SCRIPT" "$(date +%T)" "$*" >&2; }

compose() {
	docker-compose -p "$PROJECT" -f "$REPO/docker-compose.yml" --profile test "$@"
}

# ---- packages and daemon --------------------------------------------------------------

ensure_packages() {
	local pkg status missing=()
	for pkg in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
		[[ $status == ii* ]] || missing+=("$pkg")
	done
	((${#missing[@]} == 0)) && return 0
	is_root || die "missing packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}"
	log "installing ${missing[*]}"
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
}

ensure_daemon() {
	if docker info >/dev/null 2>&1; then
		log "using the running Docker daemon ($(docker version -f '{{.Server.Version}}'))"
		return 0
	fi
	is_root || die "no Docker daemon answers and only root may start one"
	[[ -x /usr/sbin/dockerd ]] || die "/usr/sbin/dockerd missing (package docker.io)"
	log "no Docker daemon runs: starting /usr/sbin/dockerd (log $WORK/dockerd.log)"
	setsid /usr/sbin/dockerd --pidfile "$WORK/dockerd.pid" >"$WORK/dockerd.log" 2>&1 \
		</dev/null &
	STARTED_DOCKERD=$!
	local deadline=$((SECONDS + 60))
	until docker info >/dev/null 2>&1; do
		if ! kill -0 "$STARTED_DOCKERD" 2>/dev/null; then
			tail -n 20 "$WORK/dockerd.log" >&2
			STARTED_DOCKERD=''
			die "dockerd exited during start-up (log above)"
		fi
		((SECONDS < deadline)) || {
			tail -n 20 "$WORK/dockerd.log" >&2
			die "dockerd did not answer within 60 s"
		}
		sleep 0.2
	done
	log "dockerd $(docker version -f '{{.Server.Version}}') up (pid $STARTED_DOCKERD)"
}

stop_daemon() {
	[[ -n $STARTED_DOCKERD ]] || return 0
	log "stopping the dockerd this script started (pid $STARTED_DOCKERD)"
	kill -TERM "$STARTED_DOCKERD" 2>/dev/null || return 0
	local deadline=$((SECONDS + 60))
	while kill -0 "$STARTED_DOCKERD" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "dockerd ignored SIGTERM for 60 s; killing it"
			kill -KILL "$STARTED_DOCKERD" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
	STARTED_DOCKERD=''
}

# ---- base image -----------------------------------------------------------------------

# debian_mirror: the URI apt uses for Debian's main suite (deb822 .sources or one-line
# .list files), e.g. http://deb.debian.org/debian.
debian_mirror() {
	local f
	{
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[[ -r $f ]] || continue
			awk '$1 == "deb" {
				i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
				uri = $i; suite = $(i + 1)
				if (suite == "bookworm") print uri }' "$f"
		done
		for f in /etc/apt/sources.list.d/*.sources; do
			[[ -r $f ]] || continue
			# deb822: stanzas separated by blank lines; want Types: deb with suite bookworm.
			awk 'BEGIN { RS = ""; FS = "\n" }
				{ types = ""; uris = ""; suites = ""; enabled = "yes"
				  for (i = 1; i <= NF; i++) {
					if ($i ~ /^Types:/) types = $i
					else if ($i ~ /^URIs:/) uris = $i
					else if ($i ~ /^Suites:/) suites = $i
					else if ($i ~ /^Enabled:/) enabled = $i
				  }
				  if (types ~ /(^|[ \t])deb([ \t]|$)/ && suites ~ /[ \t]bookworm([ \t]|$)/ &&
				      enabled !~ /no/) {
					sub(/^URIs:[ \t]*/, "", uris); split(uris, u, /[ \t]+/); print u[1]
				  } }' "$f"
		done
	} | head -n 1
}

# security_mirror: the URI of bookworm-security, if apt has one.
security_mirror() {
	grep -rhoE 'https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
		/etc/apt/sources.list.d/*.list 2>/dev/null | grep -m 1 'debian-security' || true
}

ensure_base_image() {
	if [[ -n ${CT_BASE_IMAGE:-} ]]; then
		BASE_IMAGE=$CT_BASE_IMAGE
		log "base image $BASE_IMAGE (CT_BASE_IMAGE)"
		return 0
	fi
	BASE_IMAGE=$BASE_TAG
	if [[ ${CT_REBUILD_BASE:-0} != 1 ]] && docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
		log "base image $BASE_TAG exists (made $(docker image inspect -f '{{.Created}}' \
			"$BASE_TAG")); CT_REBUILD_BASE=1 makes it again"
		return 0
	fi
	local mirror security rootfs=$WORK/rootfs t0=$SECONDS
	mirror=$(debian_mirror)
	[[ -n $mirror ]] || die "found no Debian bookworm mirror in /etc/apt/sources.list*"
	security=$(security_mirror)
	is_root || die "debootstrap needs root"
	log "debootstrap --variant=minbase bookworm from $mirror (log $WORK/debootstrap.log)"
	if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
		>"$WORK/debootstrap.log" 2>&1; then
		tail -n 30 "$WORK/debootstrap.log" >&2
		die "debootstrap failed (last lines above)"
	fi
	{
		printf 'deb %s bookworm main\n' "$mirror"
		printf 'deb %s bookworm-updates main\n' "$mirror"
		[[ -n $security ]] && printf 'deb %s bookworm-security main\n' "$security"
	} >"$rootfs/etc/apt/sources.list"
	# As Debian's official images: no caches, no documentation beyond copyright.
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
	tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - "$BASE_TAG" >/dev/null
	rm -rf "$rootfs"
	log "imported $BASE_TAG in $((SECONDS - t0)) s"
}

# ---- build ----------------------------------------------------------------------------

# build_images: every stage. The dashboard's `npm ci` trusts the host's CA certificates too
# (build secret npm_ca, deploy/Dockerfile): the base image has only Debian's, and a network
# whose proxy re-signs TLS is trusted by the host alone.
build_images() {
	local stage t0=$SECONDS ca=/etc/ssl/certs/ca-certificates.crt
	local -a secret=()
	[[ -s $ca ]] && secret=(--secret "id=npm_ca,src=$ca")
	for stage in "${STAGES[@]}"; do
		log "building $PROJECT/$stage:check (log $WORK/build-$stage.log)"
		if ! docker build --progress=plain -f "$REPO/deploy/Dockerfile" \
			--build-arg "BASE_IMAGE=$BASE_IMAGE" --target "$stage" "${secret[@]}" \
			-t "$PROJECT/$stage:check" "$REPO" >"$WORK/build-$stage.log" 2>&1; then
			tail -n 40 "$WORK/build-$stage.log" >&2
			die "docker build of stage $stage failed (last lines above)"
		fi
	done
	log "images built in $((SECONDS - t0)) s"
}

# ---- the stack ------------------------------------------------------------------------

# free_port FROM: the first port from FROM up that nothing listens on (read from /proc).
free_port() {
	local port hex
	for ((port = $1; port < $1 + 200; port++)); do
		hex=$(printf ':%04X' "$port")
		if ! awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
			END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
			printf '%s\n' "$port"
			return 0
		fi
	done
	die "no free port in $1..$(($1 + 199))"
}

print_logs() {
	log "containers:"
	compose ps >&2 || true
	local svc
	for svc in broker db migrate "${SERVICES[@]}" tester; do
		printf '\n---- %s (last 40 lines) ----\n' "$svc" >&2
		compose logs --no-color --tail 40 "$svc" >&2 2>&1 || true
	done
}

stack_up() {
	export CT_SECRETS_DIR=$WORK/secrets
	"$REPO/deploy/compose/setup.sh" "$CT_BROKER_HOSTNAME" 2>&1 | sed 's/^/  /' >&2
	CT_MQTT_PORT=$(free_port 21883)
	CT_MQTTS_PORT=$(free_port $((CT_MQTT_PORT + 1)))
	CT_API_PORT=$(free_port 28080)
	export CT_MQTT_PORT CT_MQTTS_PORT CT_API_PORT
	export CT_API_BIND=127.0.0.1 CT_API_TLS=0
	log "removing what an earlier run of project $PROJECT left"
	compose down -v --remove-orphans >/dev/null 2>&1 || true
	log "docker-compose up (test profile; MQTT on 127.0.0.1:$CT_MQTT_PORT, TLS :$CT_MQTTS_PORT," \
		"API on 127.0.0.1:$CT_API_PORT)"
	STACK_UP=1
	local t0=$SECONDS
	if ! timeout "$UP_TIMEOUT_S" docker-compose -p "$PROJECT" -f "$REPO/docker-compose.yml" \
		--profile test up -d --no-build >"$WORK/up.log" 2>&1; then
		cat "$WORK/up.log" >&2
		print_logs
		die "the stack did not come up healthy (docker-compose up failed, or took over $UP_TIMEOUT_S s; output and logs above)"
	fi
	log "stack up and healthy, tester started ($((SECONDS - t0)) s)"
}

run_tester() {
	local id code t0=$SECONDS
	id=$(compose ps -q tester)
	[[ -n $id ]] || die "no tester container"
	code=$(timeout "$TESTER_TIMEOUT_S" docker wait "$id") || code=timeout
	compose logs --no-color tester 2>&1 | sed 's/^/  /' >&2
	log "tester exit code: $code ($((SECONDS - t0)) s)"
	if [[ $code != 0 ]]; then
		print_logs
		return 1
	fi
}

# check_containers: what the tester cannot see from inside: users and limits.
check_containers() {
	local svc id user mem failed=0
	for svc in "${SERVICES[@]}"; do
		id=$(compose ps -q "$svc")
		user=$(docker inspect -f '{{.Config.User}}' "$id")
		mem=$(docker inspect -f '{{.HostConfig.Memory}}' "$id")
		if [[ $(docker exec "$id" id -u) == 0 || -z $user || $user == root ]]; then
			log "FAIL: $svc runs as root"
			failed=1
		fi
		if ((mem <= 0)); then
			log "FAIL: $svc has no memory limit"
			failed=1
		fi
		log "ok: $svc runs as $user (uid $(docker exec "$id" id -u)), memory limit $((mem >> 20)) MiB," \
			"health $(docker inspect -f '{{.State.Health.Status}}' "$id")"
	done
	return "$failed"
}

# api_get PATH [TOKEN]: the HTTP status of GET PATH on the api's published port; the body in
# $WORK/api.body. The token reaches curl on stdin (-K -), not on its command line.
api_get() {
	local code
	code=$(if [[ -n ${2:-} ]]; then
		printf 'header = "Authorization: Bearer %s"\n' "$2"
	fi | curl -s -K - --max-time 10 -o "$WORK/api.body" -w '%{http_code}' \
		"http://127.0.0.1:$CT_API_PORT$1") || true
	printf '%s\n' "${code:-000}"
}

# check_api: from the host, as a browser would: the dashboard's page, a 401 without a token,
# and the overview with a token minted the documented way (docker-compose exec db
# ct-api-token), showing the stations the tester's data passed through.
check_api() {
	local code token failed=0
	code=$(api_get /)
	if [[ $code == 200 ]] && grep -qi '<html' "$WORK/api.body"; then
		log "ok: GET / serves the dashboard ($(wc -c <"$WORK/api.body") bytes)"
	else
		log "FAIL: GET / answered $code, not the dashboard's page"
		failed=1
	fi
	code=$(api_get /api/v1/overview)
	if [[ $code == 401 ]]; then
		log "ok: GET /api/v1/overview without a token: 401"
	else
		log "FAIL: GET /api/v1/overview without a token answered $code, not 401"
		failed=1
	fi
	token=$(compose exec -T db ct-api-token compose-check viewer | tr -d '\r') || token=''
	if [[ ! $token =~ ^ctk_[0-9a-f]{64}$ ]]; then
		log "FAIL: docker-compose exec db ct-api-token gave no token"
		return 1
	fi
	code=$(api_get /api/v1/overview "$token")
	if [[ $code == 200 ]] && grep -q '"station"' "$WORK/api.body"; then
		log "ok: GET /api/v1/overview with a viewer token: 200, stations listed"
	else
		log "FAIL: GET /api/v1/overview with a viewer token answered $code:" \
			"$(head -c 300 "$WORK/api.body")"
		failed=1
	fi
	rm -f "$WORK/api.body"
	return "$failed"
}

# check_oee: ct-oee computed figures from the tester's results: rows of a station and of a
# line in oee_figures (results make a station's figures due within oee.publish_interval_s).
check_oee() {
	local i counts=''
	for ((i = 0; i < 30; i++)); do
		# shellcheck disable=SC2016 # expanded inside the container
		counts=$(compose exec -T db sh -c 'PGPASSWORD=$(cat /run/secrets/pg_ct_admin) psql -X -A \
			-t -h /var/lib/cellthread/pg/run -U ct_admin -d cellthread -c "SELECT count(*) \
			FILTER (WHERE station <> '"'"''"'"') || '"'"' '"'"' || count(*) FILTER (WHERE \
			station = '"'"''"'"') FROM oee_figures"' | tr -d '\r') || counts=''
		[[ $counts =~ ^[1-9][0-9]*\ [1-9][0-9]*$ ]] && break
		sleep 1
	done
	if [[ $counts =~ ^[1-9][0-9]*\ [1-9][0-9]*$ ]]; then
		log "ok: ct-oee stored figures: ${counts% *} station and ${counts#* } line rows"
		return 0
	fi
	log "FAIL: no OEE figures of a station and of a line in oee_figures (${counts:-none})"
	return 1
}

# check_scaleout: stop every service with SIGTERM (exit 0 each), then each traveler
# instance's own count of stored events is > 0 and they add up to the event table.
check_scaleout() {
	local svc id code n total=0 db_events failed=0 line offline
	log "stopping the services (SIGTERM, drain): producers first"
	compose stop -t 60 ingest ingest-2 >/dev/null 2>&1
	compose stop -t 60 traveler traveler-2 spc-gate oee api >/dev/null 2>&1
	# alert-router last: it has seen the others go (a clean stop: SERVICE_OFFLINE, LOW).
	compose stop -t 60 alert-router >/dev/null 2>&1
	# Counted after the last writer stopped. (Single quotes: expanded inside the container.)
	# shellcheck disable=SC2016
	db_events=$(compose exec -T db sh -c 'PGPASSWORD=$(cat /run/secrets/pg_ct_admin) psql -X -A -t \
		-h /var/lib/cellthread/pg/run -U ct_admin -d cellthread -c "SELECT count(*) FROM event"' |
		tr -d '\r')
	for svc in "${SERVICES[@]}"; do
		id=$(compose ps -q "$svc")
		code=$(docker inspect -f '{{.State.ExitCode}}' "$id")
		if [[ $code != 0 ]]; then
			log "FAIL: $svc exited $code after SIGTERM"
			failed=1
		fi
		line=$(compose logs --no-color "$svc" 2>&1 | grep 'stopping:' | tail -n 1 || true)
		[[ -z $line ]] || log "$svc: ${line#*stopping: }"
		if [[ $svc == traveler* ]]; then
			n=$(sed -n 's/.*stopping: stored \([0-9]*\) events.*/\1/p' <<<"$line")
			if [[ -z $n || $n == 0 ]]; then
				log "FAIL: $svc stored no events: the shared subscription did not spread"
				failed=1
			fi
			total=$((total + ${n:-0}))
		fi
	done
	# shellcheck disable=SC2016
	offline=$(compose exec -T db sh -c 'PGPASSWORD=$(cat /run/secrets/pg_ct_admin) psql -X -A -t \
		-h /var/lib/cellthread/pg/run -U ct_admin -d cellthread -c "SELECT count(DISTINCT \
		object_id) FROM alert WHERE code = '"'"'SERVICE_OFFLINE'"'"' AND severity = 2 AND \
		object_id IN ('"'"'ingest/1'"'"', '"'"'ingest/2'"'"', '"'"'spc-gate/1'"'"')"' | tr -d '\r')
	if [[ $offline != 3 ]]; then
		log "FAIL: alert-router recorded $offline of the 3 clean stops of ingest, ingest-2 and" \
			"spc-gate as SERVICE_OFFLINE (LOW)"
		failed=1
	else
		log "ok: alert-router recorded the clean stops of ingest, ingest-2 and spc-gate"
	fi
	if [[ $total != "$db_events" ]]; then
		log "FAIL: the traveler instances stored $total events, the event table has $db_events"
		failed=1
	else
		log "ok: traveler instances stored $total events together = $db_events rows in event"
	fi
	return "$failed"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if ((STACK_UP)); then
		if [[ ${CT_CHECK_KEEP:-0} == 1 ]]; then
			log "CT_CHECK_KEEP=1: stack left up; remove it with:" \
				"docker-compose -p $PROJECT --profile test down -v"
		else
			log "tearing down project $PROJECT (containers, network, volumes)"
			compose down -v --remove-orphans >/dev/null 2>&1 || log "teardown failed"
		fi
	fi
	if [[ ${CT_CHECK_KEEP:-0} != 1 ]]; then
		stop_daemon
		[[ -n $WORK ]] && rm -rf "$WORK"
	fi
	exit "$rc"
}

main() {
	local failed=0 t0=$SECONDS
	cd "$REPO"
	WORK=$(mktemp -d /tmp/ct-compose-check.XXXXXX)
	chmod 755 "$WORK"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	ensure_packages
	ensure_daemon
	log "docker-compose $(docker-compose version --short); checking the file"
	# Every user and login of the service registry has its secret declared and mounted.
	"$DEPLOY_DIR/scripts/registry.sh" check-compose "$REPO/docker-compose.yml"
	CT_SECRETS_DIR=$WORK/secrets compose config -q
	ensure_base_image
	build_images
	stack_up
	run_tester || failed=1
	check_containers || failed=1
	check_api || failed=1
	check_oee || failed=1
	check_scaleout || failed=1
	if ((failed)); then
		log "FAILED after $((SECONDS - t0)) s"
		exit 1
	fi
	log "passed in $((SECONDS - t0)) s"
}

main "$@"
