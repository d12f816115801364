#!/usr/bin/env bash
# deploy/gen-certs.sh DIR: the TLS material of the compose federation.
#
#	DIR/ca.pem            the cluster CA: verifies the GNS nodes, on the
#	                      Raft port (mutual TLS) and on the gRPC API
#	DIR/gns1.pem .key ... each GNS node's certificate, for Raft and gRPC,
#	                      naming its fixed backbone address, its service
#	                      name, and 127.0.0.1/localhost (gnsctl on the host
#	                      reaches the nodes through published ports)
#
# The CA's private key is used here and deleted: nothing can sign another
# node later, so a new node means new material for every node (run this
# again and restart the cluster). compose.yaml mounts DIR on /etc/tandem-tls
# (TANDEM_TLS, default deploy/tls, which .gitignore keeps out of git).
#
# Files are made readable to all: the containers run as uid 65532, not as
# the user who ran this. That is for the simulation on one machine; on
# real hosts give each node its own key, owned by the service's user, 0600.
#
# Environment: TANDEM_NET (default 172.30.77), the backbone's first three
# octets, as compose.yaml; BIN (default bin/) where gns is.
set -euo pipefail
out=${1:?usage: gen-certs.sh DIR}
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
NET=${TANDEM_NET:-172.30.77}
[ -x "$BIN/gns" ] || { echo "gen-certs.sh: $BIN/gns is missing: make build" >&2; exit 1; }
mkdir -p "$out"
ca=$(mktemp -d)
trap 'rm -rf "$ca"' EXIT
"$BIN/gns" cert ca -out "$ca/ca" -name "tandem compose GNS CA" >/dev/null
for i in 1 2 3; do
  rm -f "$out/gns$i.pem" "$out/gns$i.key" # gns cert never overwrites
  "$BIN/gns" cert node -ca "$ca/ca" -id "gns$i" -host "$NET.1$i,gns$i,localhost,127.0.0.1" -out "$out" >/dev/null
done
cp "$ca/ca/ca.pem" "$out/ca.pem"
chmod 0644 "$out"/*.pem "$out"/*.key
echo "gen-certs.sh: CA and gns1..3 certificates in $out (backbone $NET.0/24)"
