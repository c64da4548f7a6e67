#!/bin/sh
# mkcerts.sh — make a throw-away PKI for the tests, in the directory named by
# its one argument (mkcerts.sh DIR).  It holds:
#   ca.pem ca-key.pem          a test CA
#   server.pem server-key.pem  a server certificate from that CA for
#                              IP:127.0.0.1 and DNS:localhost
#   other-ca.pem               an unrelated CA (the "wrong CA" cases)
# ECDSA P-256 keys: quick to make, and GnuTLS (libmicrohttpd) and OpenSSL
# (libcurl) both take them.  Never use these anywhere but tests.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: mkcerts.sh DIR" >&2
	exit 64
fi
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077

key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

ca() { # ca NAME KEY CERT
	key "$2"
	openssl req -x509 -new -key "$2" -out "$3" -days 3650 -sha256 \
		-subj "/O=ml-connector tests/CN=$1" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

ca "ml-connector test CA" ca-key.pem ca.pem
ca "ml-connector other CA" other-ca-key.pem other-ca.pem

key server-key.pem
openssl req -new -key server-key.pem -out server.csr -subj "/O=ml-connector tests/CN=localhost" \
	2>/dev/null
cat >server.ext <<'EXT'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -days 3650 -sha256 \
	-set_serial "$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')" \
	-extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext other-ca-key.pem
chmod 644 ca.pem other-ca.pem server.pem
