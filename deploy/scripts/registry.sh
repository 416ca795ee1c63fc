#!/usr/bin/env bash
# registry.sh: reads deploy/services.conf, the registry of services and credentials, and
# prints what the deploy scripts derive from it.
#
#   registry.sh check                 validate the registry (exit 0, or 1 naming the line)
#   registry.sh acl                   the Mosquitto ACL (broker-config.sh writes it to DIR/acl)
#   registry.sh mqtt-users            every MQTT user, once each, in registry order
#   registry.sh pg-logins             ROLE:GROUP of every PostgreSQL login role
#   registry.sh pg-groups             the group roles those logins join, once each
#   registry.sh guard-options         the broker guard plugin's options (plugin_opt_ lines):
#                                     the service users, retain and queue filters
#   registry.sh local-services [all|EXTRA...]
#                                     the services deploy/local.sh up starts, in start
#                                     order: those without on-request plus each EXTRA (an
#                                     on-request service); `all` lists every one with a start
#   registry.sh field NAME KEY        KEY (kind binary start mqtt pg-role pg-group) of the
#                                     entry NAME; empty when the entry has none
#   registry.sh entries               one line per entry, `-` for what it has not:
#                                     NAME KIND MQTT BINARY PG_ROLE PG_GROUP START ON_REQUEST
#   registry.sh check-compose FILE    FILE (docker-compose.yml) declares a secret mqtt_USER
#                                     for every MQTT user and pg_ROLE for every login, and
#                                     mounts them into the broker and migrate services
#
# The registry is CT_SERVICES_CONF when set, else services.conf one folder above this
# script (source tree: deploy/services.conf; installed: share/cellthread/services.conf).
# Its format is documented at its top. Names reach SQL and config files, so they are
# checked here against strict patterns; a line that breaks a rule stops every command.
set -euo pipefail

CT_SCRIPT=registry.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

REGISTRY=${CT_SERVICES_CONF:-$(dirname "$SCRIPT_DIR")/services.conf}

usage() {
	sed -n '5,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# The parsed registry. NAMES in file order; per entry (keyed by name) its fields; RULES are
# "NAME read|write FILTER" in file order; PATTERNS "read|write FILTER".
NAMES=()
PATTERNS=()
RULES=()
RETAIN_FILTERS=()
QUEUE_FILTERS=()
declare -A KIND=() BINARY=() START=() ON_REQUEST=() MQTT=() PG_ROLE=() PG_GROUP=() ABOUT=()

bad() {
	die "$REGISTRY:$LINE_NO: $*"
}

check_filter() {
	[[ $1 =~ ^[A-Za-z0-9_./%+#-]+$ ]] || bad "'$1' is not a topic filter"
}

# parse: reads the registry into the variables above, or dies naming the line.
parse() {
	local key rest cur='' word
	local -a words
	[[ -r $REGISTRY ]] || die "cannot read the service registry $REGISTRY"
	LINE_NO=0
	while read -r key rest || [[ -n $key ]]; do
		LINE_NO=$((LINE_NO + 1))
		[[ -z $key || $key == '#'* ]] && continue
		read -r -a words <<<"$rest"
		case $key in
		pattern)
			[[ -z $cur ]] || bad "pattern rules go before the first entry"
			((${#words[@]} >= 2)) || bad "usage: pattern read|write FILTER..."
			[[ ${words[0]} == read || ${words[0]} == write ]] || bad "pattern read or write"
			for word in "${words[@]:1}"; do
				check_filter "$word"
				PATTERNS+=("${words[0]} $word")
			done
			;;
		retain | queue)
			[[ -z $cur ]] || bad "$key filters go before the first entry"
			((${#words[@]} >= 1)) || bad "usage: $key FILTER..."
			for word in "${words[@]}"; do
				check_filter "$word"
				if [[ $key == retain ]]; then
					RETAIN_FILTERS+=("$word")
				else
					QUEUE_FILTERS+=("$word")
				fi
			done
			;;
		service | client)
			((${#words[@]} == 1)) || bad "usage: $key NAME"
			cur=${words[0]}
			[[ $cur =~ ^[a-z][a-z0-9-]*$ ]] || bad "entry name '$cur' may hold only [a-z0-9-]"
			[[ -z ${KIND[$cur]:-} ]] || bad "entry '$cur' appears twice"
			NAMES+=("$cur")
			KIND[$cur]=$key
			;;
		about)
			[[ -n $cur ]] || bad "about outside an entry"
			ABOUT[$cur]+="${ABOUT[$cur]:+$'\n'}$rest"
			;;
		binary)
			[[ -n $cur && ${KIND[$cur]} == service ]] || bad "binary belongs to a service"
			if ((${#words[@]} != 1)) || ! [[ ${words[0]} =~ ^[A-Za-z0-9_.-]+$ ]]; then
				bad "usage: binary PROGRAM (a file name)"
			fi
			BINARY[$cur]=${words[0]}
			;;
		start)
			[[ -n $cur && ${KIND[$cur]} == service ]] || bad "start belongs to a service"
			[[ ${words[0]:-} =~ ^[0-9]{1,4}$ ]] || bad "usage: start ORDER [on-request]"
			START[$cur]=$((10#${words[0]}))
			case ${#words[@]}:${words[1]:-} in
			1:) ON_REQUEST[$cur]=0 ;;
			2:on-request) ON_REQUEST[$cur]=1 ;;
			*) bad "usage: start ORDER [on-request]" ;;
			esac
			;;
		mqtt)
			[[ -n $cur ]] || bad "mqtt outside an entry"
			if ((${#words[@]} != 1)) || ! [[ ${words[0]} =~ ^[A-Za-z0-9_-]+$ ]]; then
				bad "usage: mqtt USER ([A-Za-z0-9_-])"
			fi
			MQTT[$cur]=${words[0]}
			;;
		read | write)
			[[ -n $cur ]] || bad "$key outside an entry"
			((${#words[@]} >= 1)) || bad "usage: $key FILTER..."
			for word in "${words[@]}"; do
				check_filter "$word"
				RULES+=("$cur $key $word")
			done
			;;
		pg)
			[[ -n $cur ]] || bad "pg outside an entry"
			if [[ ${words[*]} == none ]]; then
				:
			elif ((${#words[@]} == 2)) && [[ ${words[0]} =~ ^[a-z_][a-z0-9_]*$ &&
				${words[1]} =~ ^[a-z_][a-z0-9_]*$ ]]; then
				PG_ROLE[$cur]=${words[0]}
				PG_GROUP[$cur]=${words[1]}
			else
				bad "usage: pg ROLE GROUP | pg none (names [a-z_][a-z0-9_]*)"
			fi
			;;
		*) bad "unknown directive '$key'" ;;
		esac
	done <"$REGISTRY"
	check_entries
}

check_entries() {
	local name other
	local -A login_of=()
	LINE_NO='end'
	((${#NAMES[@]})) || bad "no entries"
	for name in "${NAMES[@]}"; do
		[[ -n ${MQTT[$name]:-} ]] || bad "entry '$name' has no mqtt user"
		# The broker guard lets user U connect as U or U-anything: a user named U-x would
		# let U take its client IDs.
		for other in "${NAMES[@]}"; do
			[[ ${MQTT[$other]:-} == "${MQTT[$name]}-"* ]] &&
				bad "MQTT user '${MQTT[$other]}' starts with user '${MQTT[$name]}-'" \
					"(user ${MQTT[$name]} could use its client IDs); rename one"
		done
		if [[ ${KIND[$name]} == service ]]; then
			[[ -n ${BINARY[$name]:-} ]] || bad "service '$name' has no binary"
		fi
		if [[ -n ${PG_ROLE[$name]:-} ]]; then
			[[ -z ${login_of[${PG_ROLE[$name]}]:-} ]] ||
				bad "PostgreSQL login '${PG_ROLE[$name]}' is named by two entries"
			login_of[${PG_ROLE[$name]}]=$name
		fi
	done
}

# unique WORD...: each WORD once, first occurrence first.
unique() {
	local w
	local -A seen=()
	for w in "$@"; do
		[[ -n ${seen[$w]:-} ]] && continue
		seen[$w]=1
		printf '%s\n' "$w"
	done
}

cmd_mqtt_users() {
	local name
	local -a users=()
	for name in "${NAMES[@]}"; do
		users+=("${MQTT[$name]}")
	done
	unique "${users[@]}"
}

cmd_pg_logins() {
	local name
	for name in "${NAMES[@]}"; do
		[[ -n ${PG_ROLE[$name]:-} ]] && printf '%s:%s\n' "${PG_ROLE[$name]}" "${PG_GROUP[$name]}"
	done
	return 0
}

cmd_pg_groups() {
	local name
	local -a groups=()
	for name in "${NAMES[@]}"; do
		[[ -n ${PG_GROUP[$name]:-} ]] && groups+=("${PG_GROUP[$name]}")
	done
	((${#groups[@]} == 0)) || unique "${groups[@]}"
}

# cmd_guard_options: the ct_broker_guard plugin's options for mosquitto.conf.
cmd_guard_options() {
	local name
	local -a users=()
	for name in "${NAMES[@]}"; do
		[[ ${KIND[$name]} == service ]] && users+=("${MQTT[$name]}")
	done
	printf 'plugin_opt_service_users %s\n' "$(unique "${users[@]}" | tr '\n' ' ' | sed 's/ $//')"
	printf 'plugin_opt_retain_topics %s\n' "${RETAIN_FILTERS[*]}"
	printf 'plugin_opt_queued_topics %s\n' "${QUEUE_FILTERS[*]}"
}

# cmd_acl: patterns first, then one `user` block per MQTT user with rules, holding the rules
# of every entry that uses it, in file order, each entry's about lines above them.
cmd_acl() {
	local user name rule r_name r_rest line
	local -a users
	printf '%s\n' "# Mosquitto ACL for cellthread, generated from $(basename "$REGISTRY") by" \
		"# deploy/scripts/registry.sh acl: change the registry, not this file. Each credential" \
		"# may publish only what its service owns (docs/topics.md). Anonymous clients are" \
		"# refused by the listener (allow_anonymous false)." ""
	for rule in "${PATTERNS[@]}"; do
		printf 'pattern %s\n' "$rule"
	done
	mapfile -t users < <(cmd_mqtt_users)
	for user in "${users[@]}"; do
		local -a block=()
		for name in "${NAMES[@]}"; do
			[[ ${MQTT[$name]} == "$user" ]] || continue
			local had=0
			for rule in "${RULES[@]}"; do
				r_name=${rule%% *}
				r_rest=${rule#* }
				[[ $r_name == "$name" ]] || continue
				if ((!had)) && [[ -n ${ABOUT[$name]:-} ]]; then
					while IFS= read -r line; do
						block+=("# $line")
					done <<<"${ABOUT[$name]}"
				fi
				had=1
				block+=("topic $r_rest")
			done
		done
		((${#block[@]})) || continue
		printf '\n'
		local shown=0
		for line in "${block[@]}"; do
			if ((!shown)) && [[ $line != '#'* ]]; then
				printf 'user %s\n' "$user"
				shown=1
			fi
			printf '%s\n' "$line"
		done
	done
}

# cmd_local_services [all|EXTRA...]
cmd_local_services() {
	local name extra want
	local -A asked=()
	local -a lines=()
	for extra in "$@"; do
		[[ $extra == all ]] && continue
		[[ ${KIND[$extra]:-} == service ]] ||
			die "'$extra' is not a service of $REGISTRY (services: $(services_with_start))"
		[[ -n ${START[$extra]:-} ]] || die "service '$extra' has no start line in $REGISTRY"
		asked[$extra]=1
	done
	for name in "${NAMES[@]}"; do
		[[ -n ${START[$name]:-} ]] || continue
		want=0
		if [[ ${1:-} == all || ${ON_REQUEST[$name]} == 0 || -n ${asked[$name]:-} ]]; then
			want=1
		fi
		((want)) && lines+=("$(printf '%05d %s' "${START[$name]}" "$name")")
	done
	((${#lines[@]})) || return 0
	# Stable sort on ORDER (entries with the same ORDER keep file order), without sort(1).
	local i j tmp
	for ((i = 1; i < ${#lines[@]}; i++)); do
		tmp=${lines[i]}
		for ((j = i - 1; j >= 0; j--)); do
			[[ ${lines[j]%% *} > ${tmp%% *} ]] || break
			lines[j + 1]=${lines[j]}
		done
		lines[j + 1]=$tmp
	done
	for tmp in "${lines[@]}"; do
		printf '%s\n' "${tmp#* }"
	done
}

services_with_start() {
	local name out=''
	for name in "${NAMES[@]}"; do
		[[ -n ${START[$name]:-} ]] && out+="${out:+ }$name"
	done
	printf '%s\n' "$out"
}

cmd_field() {
	(($# == 2)) || usage
	local name=$1 key=$2
	[[ -n ${KIND[$name]:-} ]] || die "no entry '$name' in $REGISTRY"
	case $key in
	kind) printf '%s\n' "${KIND[$name]}" ;;
	binary) printf '%s\n' "${BINARY[$name]:-}" ;;
	start) printf '%s\n' "${START[$name]:-}" ;;
	mqtt) printf '%s\n' "${MQTT[$name]}" ;;
	pg-role) printf '%s\n' "${PG_ROLE[$name]:-}" ;;
	pg-group) printf '%s\n' "${PG_GROUP[$name]:-}" ;;
	*) die "unknown field '$key' (kind binary start mqtt pg-role pg-group)" ;;
	esac
}

cmd_entries() {
	local name
	for name in "${NAMES[@]}"; do
		printf '%s %s %s %s %s %s %s %s\n' "$name" "${KIND[$name]}" "${MQTT[$name]}" \
			"${BINARY[$name]:--}" "${PG_ROLE[$name]:--}" "${PG_GROUP[$name]:--}" \
			"${START[$name]:--}" "${ON_REQUEST[$name]:--}"
	done
}

# compose_secrets FILE SERVICE: the secret names SERVICE mounts in FILE (one per line), read
# from its `secrets: [a, b,` ... `]` list; the file uses only that flow style for them.
compose_secrets() {
	local file=$1 svc=$2 line in_services=0 in_svc=0 collecting=0 list=''
	while IFS= read -r line; do
		if [[ $line =~ ^[a-z] ]]; then
			in_services=0
			[[ $line == services:* ]] && in_services=1
			in_svc=0
			continue
		fi
		((in_services)) || continue
		if [[ $line =~ ^\ \ ([A-Za-z0-9_-]+):\ *$ ]]; then
			in_svc=0
			[[ ${BASH_REMATCH[1]} == "$svc" ]] && in_svc=1
			continue
		fi
		((in_svc)) || continue
		if [[ $line =~ ^\ +secrets:\ *\[(.*)$ ]]; then
			collecting=1
			line=${BASH_REMATCH[1]}
		fi
		if ((collecting)); then
			list+=" ${line%%]*}"
			[[ $line == *']'* ]] && collecting=0
		fi
	done <"$file"
	list=${list//,/ }
	# shellcheck disable=SC2086 # split the list into names
	printf '%s\n' $list
}

cmd_check_compose() {
	(($# == 1)) || usage
	local file=$1 name failed=0
	local -a want_broker want_migrate declared broker migrate
	[[ -r $file ]] || die "cannot read $file"
	mapfile -t want_broker < <(cmd_mqtt_users | sed 's/^/mqtt_/')
	mapfile -t want_migrate < <(cmd_pg_logins | sed 's/^\([^:]*\):.*/pg_\1/')
	mapfile -t declared < <(sed -n 's/^  \([A-Za-z0-9_-]*\):$/\1/p' "$file")
	mapfile -t broker < <(compose_secrets "$file" broker)
	mapfile -t migrate < <(compose_secrets "$file" migrate)
	for name in "${want_broker[@]}" "${want_migrate[@]}"; do
		if ! printf '%s\n' "${declared[@]}" | grep -qxF "$name"; then
			note "$file: no secret '$name' (the registry needs it) under secrets:"
			failed=1
		fi
	done
	for name in "${want_broker[@]}"; do
		if ! printf '%s\n' "${broker[@]}" | grep -qxF "$name"; then
			note "$file: the broker service does not mount the secret '$name'"
			failed=1
		fi
	done
	for name in "${want_migrate[@]}"; do
		if ! printf '%s\n' "${migrate[@]}" | grep -qxF "$name"; then
			note "$file: the migrate service does not mount the secret '$name'"
			failed=1
		fi
	done
	((failed == 0)) || die "$file does not match the registry $REGISTRY"
}

main() {
	(($# >= 1)) || usage
	local cmd=$1
	shift
	case $cmd in
	-h | --help | help) usage ;;
	esac
	parse
	case $cmd in
	check) (($# == 0)) || usage ;;
	acl) cmd_acl ;;
	mqtt-users) cmd_mqtt_users ;;
	pg-logins) cmd_pg_logins ;;
	pg-groups) cmd_pg_groups ;;
	guard-options) cmd_guard_options ;;
	local-services) cmd_local_services "$@" ;;
	field) cmd_field "$@" ;;
	entries) cmd_entries ;;
	check-compose) cmd_check_compose "$@" ;;
	*)
		note "unknown command '$cmd'"
		usage
		;;
	esac
}

main "$@"
