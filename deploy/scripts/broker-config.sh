#!/usr/bin/env bash
# broker-config.sh: writes a complete Mosquitto configuration for cellthread into one folder.
#
#   broker-config.sh DIR PORT [USER...]
#
# Writes DIR/mosquitto.conf, DIR/passwd (one credential per USER; without USERs, every MQTT
# user of the service registry deploy/services.conf), DIR/acl (generated from the registry
# by registry.sh acl), DIR/secrets/USER.password and DIR/data/ (persistence). Start the
# broker with `mosquitto -c DIR/mosquitto.conf` (add -d to daemonise); its pid goes to
# DIR/mosquitto.pid and its log to DIR/mosquitto.log.
#
# Used alike by deploy/local.sh and the integration-test harness, so the broker the tests
# talk to is configured exactly like the one users run. Idempotent: an existing
# DIR/secrets/USER.password is kept (re-running keeps passwords); everything else is
# rewritten. A running broker picks up a new passwd/acl on SIGHUP.
#
# Environment:
#   CT_BROKER_BIND      address of the plain listener (default 127.0.0.1)
#   CT_BROKER_TLS_PORT  also listen with TLS on this port, using DIR/tls/{ca.crt,server.crt,
#                       server.key} (make them with tls-selfsigned.sh DIR/tls HOSTNAME)
#   CT_SERVICES_CONF    the registry to read (default: services.conf beside scripts/)
#   CT_BROKER_PLUGIN    the broker guard plugin, ct_broker_guard.so (default: the installed
#                       one, PREFIX/lib/cellthread/ beside PREFIX/share/cellthread/scripts/);
#                       required: without it any credential could take a service's session
#   CT_BROKER_SESSION_EXPIRY  persistent_client_expiration (default 30d)
#   CT_BROKER_SHED_MIB  above this much allocated memory the broker guard disconnects every
#                       client that is not a service (default 512; 0: never)
#
# As root: Mosquitto 2.0 (Debian 12: 2.0.11) drops privileges to the user `mosquitto` right
# after reading this config and before it opens anything else: password file, ACL, pid
# file, log and persistence are all opened as `mosquitto` (tested: a root-owned 0600 passwd
# gives "Unable to open pwfile", a root-owned DIR "Unable to write pid file"). So DIR,
# data/, passwd, acl and tls/server.key are given to that user and its access to DIR is
# checked; secrets/ stays root-only. Running the broker as root (`user root`) would also
# work but gives a network-facing daemon root for nothing.
set -euo pipefail

CT_SCRIPT=broker-config.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

BROKER_USER=mosquitto

usage() {
	cat >&2 <<'EOF'
usage: broker-config.sh DIR PORT [USER...]
  Writes DIR/mosquitto.conf, DIR/passwd, DIR/acl, DIR/secrets/USER.password, DIR/data/.
  USERs default to every MQTT user of the registry (deploy/services.conf).
  env: CT_BROKER_BIND (default 127.0.0.1), CT_BROKER_TLS_PORT (TLS listener, needs DIR/tls/),
       CT_SERVICES_CONF (the registry)
EOF
	exit 2
}

# registry ARGS...: registry.sh ARGS (the service registry, deploy/services.conf).
registry() {
	"$SCRIPT_DIR/registry.sh" "$@"
}

# write_passwd DIR USER...: a fresh password file from the secrets. Built beside the old one
# and renamed, so a broker reloading on SIGHUP never reads half a file.
write_passwd() {
	local dir=$1 user tmp first=1
	shift
	tmp=$(mktemp "$dir/passwd.XXXXXX")
	for user in "$@"; do
		if ((first)); then
			mosquitto_passwd -c -b "$tmp" "$user" "$(read_secret "$dir/secrets/$user.password")" >/dev/null
			first=0
		else
			mosquitto_passwd -b "$tmp" "$user" "$(read_secret "$dir/secrets/$user.password")" >/dev/null
		fi
	done
	chmod 600 "$tmp"
	mv -f "$tmp" "$dir/passwd"
}

# guard_plugin: the path of ct_broker_guard.so, or dies naming where it looked.
guard_plugin() {
	local plugin=${CT_BROKER_PLUGIN:-$SCRIPT_DIR/../../../lib/cellthread/ct_broker_guard.so}
	[[ -r $plugin ]] || die "broker guard plugin not found at $plugin; build it" \
		"(services/broker-guard) and set CT_BROKER_PLUGIN to its ct_broker_guard.so"
	abs_path "$plugin"
}

# tls_block DIR TLS_PORT: the TLS listener's lines, or dies when the certificates are missing.
tls_block() {
	local dir=$1 port=$2 f
	check_port "$port"
	for f in ca.crt server.crt server.key; do
		[[ -r $dir/tls/$f ]] || die "CT_BROKER_TLS_PORT is set but $dir/tls/$f is missing;" \
			"run: deploy/scripts/tls-selfsigned.sh $dir/tls HOSTNAME"
	done
	cat <<EOF

# TLS listener (CT_BROKER_TLS_PORT). Same users and ACL as the plain one.
listener $port ${CT_BROKER_BIND:-127.0.0.1}
cafile $dir/tls/ca.crt
certfile $dir/tls/server.crt
keyfile $dir/tls/server.key
tls_version tlsv1.2
EOF
}

write_conf() {
	local dir=$1 port=$2 plugin=$3 guard_options=$4 bind=${CT_BROKER_BIND:-127.0.0.1}
	{
		cat <<EOF
# Mosquitto configuration for cellthread, written by deploy/scripts/broker-config.sh.
# Rewritten on every run: change the script (or its environment), not this file.
per_listener_settings false
listener $port $bind
allow_anonymous false
password_file $dir/passwd
acl_file $dir/acl

# Retained status, persistent sessions and their queued messages survive a restart.
persistence true
persistence_location $dir/data/
autosave_interval 5

# No message loss: by default Mosquitto keeps at most 1000 queued QoS 1 messages per
# client (max_queued_messages) and silently DROPS the rest while that client is offline
# or slow. cellthread refuses loss, so queues are unlimited (0): each service drains
# the broker into its own disk spool quickly, so the queues stay short in practice.
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 100

# No message larger than a service's disk inbox takes (ct_spool: 64 MiB a record): the
# broker disconnects a client that sends one, instead of handing it to a service whose
# spool would refuse it while Paho had already acknowledged it (the service would stall).
# Every service's own payload limit (ingest.max_payload_kib and the like) is lower still, so
# what passes here and is too big for a service is dead-lettered by it.
max_packet_size 33554432

# The broker guard (services/broker-guard) enforces what the password file and ACL cannot:
# a credential connects only with its own client IDs (USER or USER-...), so nobody takes over
# a service's persistent session or reads replies meant for another credential; clients that
# are not services subscribe with QoS 0 except to their own replies and their commands, so
# the broker queues nothing for an absent dashboard or CLI; retained messages stay only on
# the status and lot topics (the flag is cleared elsewhere; the message is delivered).
# Its options come from the registry (registry.sh guard-options). A client that is not a
# service and stops reading its socket would make the broker queue its QoS 0 stream in memory
# without bound (Mosquitto's queue limits are global and the services need theirs
# unlimited): above shed_mib MiB allocated, the guard disconnects every such client.
plugin $plugin
$guard_options
plugin_opt_shed_mib ${CT_BROKER_SHED_MIB:-512}

# A persistent session not resumed for 30 days is removed with its queue: the bound on what
# an abandoned client ID can hold. A service that is down for longer than that loses what
# was queued for it (raise this for plants that stop for longer).
persistent_client_expiration ${CT_BROKER_SESSION_EXPIRY:-30d}

# Without TCP_NODELAY every QoS 1 round trip waits for Nagle and delayed ACK (~35 ms).
set_tcp_nodelay true

log_dest file $dir/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
pid_file $dir/mosquitto.pid
EOF
		if is_root; then
			cat <<EOF

# Started as root, Mosquitto drops privileges to this user before opening any file;
# broker-config.sh gave it DIR, data/, passwd and acl.
user $BROKER_USER
EOF
		fi
		if [[ -n ${CT_BROKER_TLS_PORT:-} ]]; then
			tls_block "$dir" "$CT_BROKER_TLS_PORT"
		fi
	} | write_file "$dir/mosquitto.conf" 644
}

# give_to_broker DIR: as root, hands the broker what it opens after dropping privileges.
give_to_broker() {
	local dir=$1
	id -u "$BROKER_USER" >/dev/null 2>&1 ||
		die "user '$BROKER_USER' does not exist; install Debian's mosquitto package"
	check_user_can_reach "$BROKER_USER" "$dir"
	chown "$BROKER_USER:" "$dir" "$dir/data" "$dir/passwd" "$dir/acl"
	chown -R "$BROKER_USER:" "$dir/data"
	if [[ -e $dir/mosquitto.log ]]; then
		chown "$BROKER_USER:" "$dir/mosquitto.log"
	fi
	# Only the server key: the broker has no business reading the CA's key.
	if [[ -e $dir/tls/server.key ]]; then
		chown "$BROKER_USER:" "$dir/tls/server.key"
	fi
	chown root: "$dir/secrets"
	chmod 700 "$dir/secrets"
}

main() {
	(($# >= 2)) || usage
	local dir port user acl plugin guard_options
	local -a users
	dir=$(abs_path "$1")
	port=$2
	shift 2
	check_port "$port"
	# Generated first: a broken registry stops here, before anything is written.
	acl=$(registry acl) || die "cannot generate the ACL from the service registry"
	guard_options=$(registry guard-options) || die "cannot read the guard options"
	plugin=$(guard_plugin)
	if (($#)); then
		users=("$@")
	else
		mapfile -t users < <(registry mqtt-users)
		((${#users[@]})) || die "the service registry names no MQTT user"
	fi
	set -- "${users[@]}"
	for user in "$@"; do
		[[ $user =~ ^[A-Za-z0-9_-]+$ ]] || die "user name '$user' may hold only [A-Za-z0-9_-]"
	done
	command -v mosquitto_passwd >/dev/null || die "mosquitto_passwd not found; install mosquitto"

	mkdir -p "$dir/data" "$dir/secrets"
	chmod 700 "$dir/secrets"
	for user in "$@"; do
		ensure_secret "$dir/secrets/$user.password"
	done
	write_passwd "$dir" "$@"
	printf '%s\n' "$acl" | write_file "$dir/acl" 600
	write_conf "$dir" "$port" "$plugin" "$guard_options"
	if is_root; then
		give_to_broker "$dir"
	fi
	note "wrote $dir/mosquitto.conf (port $port, users: $*)"
}

main "$@"
