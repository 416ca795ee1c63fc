# shellcheck shell=bash
# lib.sh: helpers shared by the deploy scripts (sourced, never run).
#
# Kept here once so broker-config.sh, pg-cluster.sh and local.sh generate secrets, check
# directories and write files the same way. Every function either succeeds or calls die.

# The script's name for messages, set by the sourcing script before it calls anything.
CT_SCRIPT=${CT_SCRIPT:-${0##*/}}

die() {
	printf '%s: error: %s\n' "$CT_SCRIPT" "$*" >&2
	exit "${CT_DIE_CODE:-1}"
}

note() {
	printf '%s: %s\n' "$CT_SCRIPT" "$*" >&2
}

is_root() {
	[[ $(id -u) -eq 0 ]]
}

# check_port VALUE: a TCP port number 1..65535, or die.
check_port() {
	if ! [[ $1 =~ ^[0-9]{1,5}$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
		die "'$1' is not a TCP port (1..65535)"
	fi
}

# abs_path PATH: PATH made absolute without requiring it to exist. The config files we
# write name paths that the daemons open from their own working directory.
abs_path() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "$1" ;;
	esac
}

# random_alnum N: N random characters [A-Za-z0-9] from /dev/urandom. head reads a fixed
# amount and tr consumes all of it, so no SIGPIPE trips pipefail.
random_alnum() {
	local want=$1 out=''
	while ((${#out} < want)); do
		out+=$(head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')
	done
	printf '%s\n' "${out:0:want}"
}

# ensure_secret FILE: creates FILE (mode 0600) holding a new 24-character password unless it
# exists already and is not empty, so re-running a script keeps every password.
ensure_secret() {
	local file=$1 tmp
	if [[ -s $file ]]; then
		return 0
	fi
	tmp=$(mktemp "$file.XXXXXX")
	chmod 600 "$tmp"
	random_alnum 24 >"$tmp"
	mv -f "$tmp" "$file"
}

# read_secret FILE: the secret on FILE's first line.
read_secret() {
	local value
	[[ -r $1 ]] || die "cannot read secret $1"
	IFS= read -r value <"$1" || [[ -n $value ]] || die "secret $1 is empty"
	printf '%s\n' "$value"
}

# write_file FILE MODE: writes stdin to FILE atomically (temp file in the same directory,
# then rename), so a reader never sees half a config.
write_file() {
	local file=$1 mode=$2 tmp
	tmp=$(mktemp "$file.XXXXXX")
	cat >"$tmp"
	chmod "$mode" "$tmp"
	mv -f "$tmp" "$file"
}

# check_user_can_reach USER DIR: dies naming the first directory from / down to DIR that USER
# cannot traverse. Daemons that drop root privileges (mosquitto, postgres) open their files
# as USER, and a directory under a private home (e.g. /root) would make them fail with a
# bare "Permission denied" much later.
check_user_can_reach() {
	local user=$1 dir=$2 path='' part
	local -a parts
	IFS=/ read -r -a parts <<<"${dir#/}"
	for part in "${parts[@]}"; do
		[[ -n $part ]] || continue
		path+=/$part
		[[ -d $path ]] || break
		if ! runuser -u "$user" -- test -x "$path"; then
			die "user '$user' cannot enter $path (needed for $dir); choose a directory" \
				"outside it (e.g. under /tmp or /srv) or run: chmod o+x $path"
		fi
	done
}

# pid_alive PIDFILE COMM: true when PIDFILE names a live process whose name is COMM, so a
# stale pid file whose number was reused by another program is not mistaken for ours.
pid_alive() {
	local pidfile=$1 comm=$2 pid name
	[[ -r $pidfile ]] || return 1
	IFS= read -r pid <"$pidfile" || true
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/comm ]] || return 1
	IFS= read -r name <"/proc/$pid/comm" || return 1
	[[ $name == "$comm" ]]
}

# conninfo_quote VALUE: VALUE as a libpq conninfo value: single-quoted, with \ and ' escaped.
conninfo_quote() {
	local v=$1
	v=${v//\\/\\\\}
	v=${v//\'/\\\'}
	printf "'%s'\n" "$v"
}
