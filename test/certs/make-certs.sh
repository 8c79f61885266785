#!/bin/sh
#-------------------------------------------------------------------------
#
# make-certs.sh
#	  Generate the TLS test certificates used by the unit and TAP tests.
#
# Usage: make-certs.sh OUTDIR [OWNER]
#
# Writes into OUTDIR (EC P-256 keys, signed with SHA-256):
#	root.crt/root.key			test CA "pgasync test CA"
#	server.crt/server.key		CN=localhost, SAN DNS:localhost,
#								IP:127.0.0.1, IP:::1; signed by the CA
#	client.crt/client.key		CN=pgasync_cert, signed by the CA
#	other_root.crt/other_root.key	an unrelated CA
#	wronghost.crt/wronghost.key	CN and SAN "otherhost.example", signed by
#								the CA
#	revoked.crt/revoked.key		signed by the CA and revoked in root.crl
#	root.crl					CRL of the CA
#
# Existing complete output is kept (the script is idempotent).  Keys are
# mode 0600, everything else 0644; with OWNER, all files are chowned to
# it (a PostgreSQL server needs to own its server.key).  Prints nothing on
# success.
#
#-------------------------------------------------------------------------

set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 OUTDIR [OWNER]" >&2
	exit 2
fi

OUT=$1
OWNER=${2:-}
DAYS=3650

FILES="root.crt root.key server.crt server.key client.crt client.key
other_root.crt other_root.key wronghost.crt wronghost.key
revoked.crt revoked.key root.crl"

if [ ! -d "$OUT" ]; then
	mkdir -p "$OUT"
	chmod 0755 "$OUT"
fi

complete=yes
for f in $FILES; do
	[ -s "$OUT/$f" ] || complete=no
done

if [ $complete = no ]; then
	umask 077
	WORK="$OUT/.work"
	rm -rf "$WORK"
	mkdir -p "$WORK"

	# Run openssl quietly; show its output only when it fails.
	ossl() {
		if ! openssl "$@" >"$WORK/log" 2>&1; then
			cat "$WORK/log" >&2
			echo "$0: openssl $1 failed" >&2
			exit 1
		fi
	}

	newkey() {
		ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-out "$WORK/$1.key"
	}

	# self-signed CA: name, subject
	make_ca() {
		newkey "$1"
		ossl req -new -x509 -sha256 -days $DAYS -key "$WORK/$1.key" \
			-subj "$2" -extensions v3_ca_pgw -config "$WORK/req.cnf" \
			-out "$WORK/$1.crt"
	}

	# leaf signed by root: name, subject, subjectAltName (or empty)
	make_leaf() {
		newkey "$1"
		{
			echo "basicConstraints = CA:false"
			echo "keyUsage = critical, digitalSignature, keyEncipherment"
			echo "authorityKeyIdentifier = keyid"
			if [ -n "$3" ]; then
				echo "subjectAltName = $3"
			fi
		} >"$WORK/$1.ext"
		ossl req -new -key "$WORK/$1.key" -subj "$2" -config "$WORK/req.cnf" \
			-out "$WORK/$1.csr"
		ossl x509 -req -sha256 -days $DAYS -in "$WORK/$1.csr" \
			-CA "$WORK/root.crt" -CAkey "$WORK/root.key" \
			-set_serial "$4" -extfile "$WORK/$1.ext" -out "$WORK/$1.crt"
	}

	cat >"$WORK/req.cnf" <<EOF
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ v3_ca_pgw ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF

	make_ca root "/CN=pgasync test CA"
	make_ca other_root "/CN=pgasync unrelated test CA"
	make_leaf server "/CN=localhost" \
		"DNS:localhost, IP:127.0.0.1, IP:::1" 1001
	make_leaf client "/CN=pgasync_cert" "" 1002
	make_leaf wronghost "/CN=otherhost.example" "DNS:otherhost.example" 1003
	make_leaf revoked "/CN=localhost" \
		"DNS:localhost, IP:127.0.0.1, IP:::1" 1004

	# Revoke with a throwaway "openssl ca" database, then issue the CRL.
	: >"$WORK/index.txt"
	echo 1000 >"$WORK/crlnumber"
	cat >"$WORK/ca.cnf" <<EOF
[ ca ]
default_ca = pgw_ca
[ pgw_ca ]
dir = $WORK
database = \$dir/index.txt
crlnumber = \$dir/crlnumber
certificate = \$dir/root.crt
private_key = \$dir/root.key
default_md = sha256
default_crl_days = $DAYS
EOF
	ossl ca -config "$WORK/ca.cnf" -revoke "$WORK/revoked.crt"
	ossl ca -config "$WORK/ca.cnf" -gencrl -out "$WORK/root.crl"

	for f in $FILES; do
		mv -f "$WORK/$f" "$OUT/$f"
	done
	rm -rf "$WORK"
fi

for f in $FILES; do
	case $f in
		*.key) chmod 0600 "$OUT/$f" ;;
		*) chmod 0644 "$OUT/$f" ;;
	esac
done
if [ -n "$OWNER" ]; then
	for f in $FILES; do
		chown "$OWNER" "$OUT/$f"
	done
fi
exit 0
