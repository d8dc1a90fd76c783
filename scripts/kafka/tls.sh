#!/usr/bin/env bash
# Certificates for Kafka's SASL_SSL listener, made with openssl (EC P-256, SHA-256):
#
#   bash scripts/kafka/tls.sh ca DIR                  CA: DIR/ca.key (0600), DIR/ca.pem
#   bash scripts/kafka/tls.sh server DIR HOST...      broker: DIR/broker.pem (key + cert, what
#                                                     Kafka's ssl.keystore.type=PEM reads), with
#                                                     every HOST (IP or DNS name) as subjectAltName
#   bash scripts/kafka/tls.sh client DIR NAME [--expired]
#                                                     client cert for mutual TLS: DIR/NAME.key,
#                                                     DIR/NAME.pem; --expired: valid only in 2020
#
# Every certificate is signed by DIR's CA (made by `ca`, which keeps an existing one).
# Keys are written 0600 whatever the umask. Lifetimes: CA 10 years, others 825 days.
# Used by scripts/kafka/start.sh (CA and broker into the state dir), the integration tests
# (extra clients, an expired one) and, for the compose stack, by hand (docs/security.md).
set -euo pipefail
RW_COMPONENT=kafka-tls
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

command -v openssl >/dev/null || rw_die "openssl missing; run: bash scripts/servers.sh install"
umask 077

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || rw_die "usage: tls.sh ca|server|client DIR ..."
mkdir -p "$dir"

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# sign CSR OUT DAYS|expired EXTENSIONS: signs with the CA through `openssl ca` (the only openssl
# command that takes explicit validity dates, which the expired certificate needs).
sign() {
  local csr=$1 out=$2 validity=$3 ext=$4 work
  work=$(mktemp -d)
  : >"$work/index.txt"
  openssl rand -hex 16 >"$work/serial"
  cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = rw
[rw]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
[ext]
basicConstraints = critical, CA:FALSE
$ext
EOF
  local dates=(-days "$validity")
  [[ $validity == expired ]] && dates=(-startdate 20200101000000Z -enddate 20200102000000Z)
  openssl ca -batch -notext -config "$work/ca.cnf" -extensions ext -cert "$dir/ca.pem" -keyfile "$dir/ca.key" \
    -in "$csr" -out "$out" "${dates[@]}" 2>"$work/err" || { cat "$work/err" >&2; rm -rf "$work"; rw_die "signing $out failed"; }
  rm -rf "$work"
}

case $cmd in
  ca)
    if [[ -s $dir/ca.pem && -s $dir/ca.key ]]; then exit 0; fi
    newkey "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -out "$dir/ca.pem" -days 3650 -subj "/CN=roamwatch test CA $(openssl rand -hex 4)" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    chmod 0644 "$dir/ca.pem"
    rw_log "CA $dir/ca.pem"
    ;;
  server)
    shift 2
    (($# > 0)) || rw_die "usage: tls.sh server DIR HOST..."
    san=()
    for h in "$@"; do
      if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san+=("IP:$h"); else san+=("DNS:$h"); fi
    done
    newkey "$dir/broker.key"
    openssl req -new -key "$dir/broker.key" -out "$dir/broker.csr" -subj "/CN=$1"
    sign "$dir/broker.csr" "$dir/broker.crt" 825 "keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $(IFS=,; echo "${san[*]}")"
    # Kafka's PEM keystore: the PKCS#8 key, then the certificate chain.
    openssl pkcs8 -topk8 -nocrypt -in "$dir/broker.key" -out "$dir/broker.pk8"
    cat "$dir/broker.pk8" "$dir/broker.crt" "$dir/ca.pem" >"$dir/broker.pem"
    rm -f "$dir/broker.csr" "$dir/broker.pk8"
    rw_log "broker certificate $dir/broker.pem for ${san[*]}"
    ;;
  client)
    name=${3:-}
    [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || rw_die "usage: tls.sh client DIR NAME [--expired]"
    validity=825
    [[ ${4:-} == --expired ]] && validity=expired
    newkey "$dir/$name.key"
    openssl req -new -key "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$name"
    sign "$dir/$name.csr" "$dir/$name.pem" "$validity" "keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth"
    rm -f "$dir/$name.csr"
    rw_log "client certificate $dir/$name.pem${4:+ ($4)}"
    ;;
  *) rw_die "usage: tls.sh ca|server|client DIR ..." ;;
esac
