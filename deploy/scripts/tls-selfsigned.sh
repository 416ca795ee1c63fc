#!/usr/bin/env bash
# tls-selfsigned.sh: a private CA and a server certificate for the broker's TLS listener.
#
#   tls-selfsigned.sh DIR HOSTNAME
#
# Writes DIR/ca.key, DIR/ca.crt (10 years), DIR/server.key, DIR/server.crt (825 days, the
# longest clients accept) signed by that CA, valid for HOSTNAME, localhost and 127.0.0.1.
# Clients verify the broker with DIR/ca.crt (CT_MQTT_CA_FILE). Keys are P-256 ECDSA.
#
# For a site or a test bench, not a public service: a real deployment gets its server
# certificate from the plant's CA. Idempotent: the CA is kept once made; the server
# certificate is kept while it matches HOSTNAME, was signed by this CA and has more than
# 30 days left, and is made again otherwise. Needs the openssl CLI (Debian package openssl,
# listed in deploy/packages.txt).
set -euo pipefail

CT_SCRIPT=tls-selfsigned.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

usage() {
	echo "usage: tls-selfsigned.sh DIR HOSTNAME" >&2
	exit 2
}

make_ca() {
	local dir=$1
	openssl req -x509 -new -nodes -sha256 -days 3650 \
		-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-keyout "$dir/ca.key.tmp" -out "$dir/ca.crt.tmp" \
		-subj "/O=cellthread/CN=cellthread private CA" \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
		die "openssl could not make the CA"
	chmod 600 "$dir/ca.key.tmp"
	mv -f "$dir/ca.key.tmp" "$dir/ca.key"
	mv -f "$dir/ca.crt.tmp" "$dir/ca.crt"
}

# server_cert_ok DIR HOSTNAME: the existing server certificate can stay.
server_cert_ok() {
	local dir=$1 host=$2
	[[ -s $dir/server.crt && -s $dir/server.key ]] || return 1
	openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" >/dev/null 2>&1 || return 1
	openssl x509 -in "$dir/server.crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 ||
		return 1
	if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then
		openssl x509 -in "$dir/server.crt" -noout -checkip "$host" 2>/dev/null |
			grep -q 'does match'
	else
		openssl x509 -in "$dir/server.crt" -noout -checkhost "$host" 2>/dev/null |
			grep -q 'does match'
	fi
}

make_server_cert() {
	local dir=$1 host=$2 san
	if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then
		san="IP:$host"
	else
		san="DNS:$host"
	fi
	[[ $host == localhost ]] || san+=",DNS:localhost"
	[[ $host == 127.0.0.1 ]] || san+=",IP:127.0.0.1"

	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-keyout "$dir/server.key.tmp" -out "$dir/server.csr" \
		-subj "/O=cellthread/CN=$host" 2>/dev/null ||
		die "openssl could not make the server key"
	openssl x509 -req -sha256 -days 825 -in "$dir/server.csr" \
		-CA "$dir/ca.crt" -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
		-out "$dir/server.crt.tmp" \
		-extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" \
			"keyUsage=critical,digitalSignature,keyEncipherment" \
			"extendedKeyUsage=serverAuth" "subjectAltName=$san") 2>/dev/null ||
		die "openssl could not sign the server certificate"
	chmod 600 "$dir/server.key.tmp"
	mv -f "$dir/server.key.tmp" "$dir/server.key"
	mv -f "$dir/server.crt.tmp" "$dir/server.crt"
	rm -f "$dir/server.csr"
}

main() {
	(($# == 2)) || usage
	local dir host=$2
	dir=$(abs_path "$1")
	[[ $host =~ ^[A-Za-z0-9.:-]+$ ]] || die "'$host' is not a host name or IP address"
	command -v openssl >/dev/null || die "openssl not found; install Debian's openssl package"

	mkdir -p "$dir"
	chmod 755 "$dir"
	if [[ ! -s $dir/ca.key || ! -s $dir/ca.crt ]]; then
		make_ca "$dir"
		note "made CA $dir/ca.crt"
	fi
	if server_cert_ok "$dir" "$host"; then
		note "kept $dir/server.crt for $host"
	else
		make_server_cert "$dir" "$host"
		note "made $dir/server.crt for $host"
	fi
}

main "$@"
