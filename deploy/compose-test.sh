#!/usr/bin/env bash
# deploy/compose-test.sh: the multi-region simulation (deploy/compose.yaml)
# tested end to end in Docker.
#
#  1. builds the static binaries (make build) and the FROM-scratch image
#     tandem:dev with deploy/build-image.sh, in a temporary folder;
#  2. starts a fresh compose project (unique name, its own /24, volumes);
#  3. waits for the 3-node GNS cluster, pushes deploy/config/routes.yaml with
#     gnsctl and checks the documents' resolutions (Tianjin -> Sina ->
#     Beijing 001001, Guangxi -> Guangzhou 020001, MT and ported numbers);
#  4. kills the GNS leader's container, checks a new leader is elected, that a
#     write through a survivor is visible on the other, then restarts the
#     killed node and checks it catches up;
#  5. waits for the four regional gateways (Beijing as two nodes, Tianjin,
#     Guangzhou, Nanning), whose configs must be what deploy/gen-config.sh
#     generates from deploy/regions and whose routes come from the GNS;
#     checks Beijing's nodes are siblings (gossip, sibling links, their own
#     store leases in the GNS); runs spsim traffic through Beijing and
#     Guangzhou to their SMSCs, and cross-region — Sina at Beijing (node a)
#     to Guangzhou numbers and (node b) to Nanning numbers, forwarded with
#     CMPP_FWD and reported back — and checks every message was acknowledged
#     and got its status report;
#  6. stops the ISMGs with SIGTERM (they must exit 0) and checks with
#     `billing report`, in a one-off container on each ISMG's volume, that
#     the CDRs hold every MT and every report, and the forwarded ones as
#     settlement with the peer gateway;
#  7. starts the ISMGs again and runs the fault table (compose-faults.sh):
#     under SP traffic, the GNS leader killed, a rolling restart of the GNS,
#     every GNS node stopped for 30 s, ISMG Guangzhou killed with SIGKILL,
#     Beijing's node a killed with SIGKILL (its SP moves to node b, which
#     adopts a's store), Guangzhou cut off the backbone network for 30 s,
#     Beijing's SMSC restarted, a route change; each row counted by
#     tandem-check from the simulators' own records, and printed as a table;
#  8. prints a summary, and always removes the project (containers,
#     networks, volumes) on the way out. Exits non-zero on any failure.
#
# gnsctl, spsim and curl run on the host against ports published on
# 127.0.0.1. Needs docker, docker-compose (or the `docker compose` plugin),
# go, curl and jq.
#
# Environment (all optional):
#	TANDEM_IMAGE        image tag to build and run (default tandem:dev)
#	TANDEM_SKIP_BUILD=1 use bin/ as it is instead of running make build
#	                    (which otherwise builds into the temporary image
#	                    context, leaving bin/ alone)
#	TANDEM_MESSAGES     messages per ISMG (default 2000)
#	TANDEM_KEEP=1       leave the project running at the end (prints how
#	                    to remove it); failures still tear it down
set -euo pipefail
export LC_ALL=C # $EPOCHREALTIME with a decimal point
cd "$(dirname "$0")/.."
ROOT=$PWD
COMPOSE=$ROOT/deploy/compose.yaml
export TANDEM_IMAGE=${TANDEM_IMAGE:-tandem:dev}
MESSAGES=${TANDEM_MESSAGES:-2000}
PROJECT=tandemct$$x$RANDOM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tandem-compose-test.XXXXXX")
STARTED=0
T_BEGIN=$EPOCHREALTIME
SUMMARY=()

say() { printf '\033[1m== %s\033[0m\n' "$*"; }
info() { printf '   %s\n' "$*"; }
die() { printf '\033[31mFAIL: %s\033[0m\n' "$*" >&2; exit 1; }
# secs_since T prints the seconds elapsed since the $EPOCHREALTIME value T.
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
note() { SUMMARY+=("$(printf '%-52s %s' "$1" "$2")"); }

if docker-compose version >/dev/null 2>&1; then
  DC=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  DC=(docker compose)
else
  die "neither docker-compose nor the docker compose plugin is installed"
fi
for tool in docker go curl jq; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
dc() { "${DC[@]}" -f "$COMPOSE" -p "$PROJECT" "$@"; }

cleanup() {
  local rc=$?
  set +e
  if [ "$STARTED" = 1 ]; then
    if [ "$rc" != 0 ]; then
      echo "---- containers of $PROJECT" >&2
      dc ps >&2
      echo "---- last log lines of each service" >&2
      dc logs --no-color --tail=40 >&2
    fi
    if [ "$rc" = 0 ] && [ "${TANDEM_KEEP:-}" = 1 ]; then
      info "left running; remove with: TANDEM_NET=$TANDEM_NET ${DC[*]} -f $COMPOSE -p $PROJECT down -v; rm -rf $WORK"
    else
      dc down -v --remove-orphans -t 5 >"$WORK/down.log" 2>&1 ||
        { echo "docker-compose down failed:" >&2; cat "$WORK/down.log" >&2; }
    fi
  fi
  if [ "$rc" = 0 ] && [ "${TANDEM_KEEP:-}" = 1 ]; then :; else rm -rf "$WORK"; fi
  if [ "$rc" = 0 ]; then
    printf '\033[32mcompose test passed in %ss\033[0m\n' "$(secs_since "$T_BEGIN")"
  else
    printf '\033[31mcompose test FAILED (exit %s) after %ss\033[0m\n' "$rc" "$(secs_since "$T_BEGIN")" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS WHAT CMD...: run CMD every 0.2 s until it succeeds; fail
# naming WHAT (and CMD's last output) after SECONDS.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline
  deadline=$(awk -v n="$EPOCHREALTIME" -v l="$limit" 'BEGIN { printf "%d", n + l }')
  until "$@" >"$WORK/wait.out" 2>&1; do
    if [ "${EPOCHREALTIME%.*}" -ge "$deadline" ]; then
      cat "$WORK/wait.out" >&2
      die "timed out after ${limit}s waiting for $what"
    fi
    sleep 0.2
  done
}

# hostport SERVICE PORT: the 127.0.0.1:port Docker published PORT on.
hostport() {
  local hp
  hp=$(dc port "$1" "$2" 2>/dev/null | tail -n1)
  [ -n "$hp" ] && [ "${hp##*:}" != 0 ] || return 1
  echo "$hp"
}

# gnsctl_at SERVICE ARGS...: gnsctl against one node only.
gnsctl_at() {
  local svc=$1
  shift
  "$BIN/gnsctl" -addr "${GRPC[$svc]}" "${GNS_AUTH[@]}" -timeout 5s "$@"
}
# gnsctl_any ARGS...: gnsctl with every node's address, as an operator would.
gnsctl_any() {
  "$BIN/gnsctl" -addr "${GRPC[gns1]},${GRPC[gns2]},${GRPC[gns3]}" "${GNS_AUTH[@]}" -timeout 5s "$@"
}

# The GNS API is TLS with a bearer token (deploy/config/gns.yaml); the CA
# and the nodes' certificates are made for this run's subnet.
export TANDEM_TLS=$WORK/tls
GNS_AUTH=(-tls-ca "$TANDEM_TLS/ca.pem" -token compose-gns-token)
declare -A GRPC HTTP
# refresh_ports SERVICE...: (re)read the published ports; a restarted
# container gets new ones.
refresh_ports() {
  local s
  for s in "$@"; do
    GRPC[$s]=$(hostport "$s" 7100) || return 1
    HTTP[$s]=$(hostport "$s" 7300) || return 1
  done
}

# node_ok SERVICE [EXCLUDED_LEADER]: the node answers, sees three members
# and a leader other than EXCLUDED_LEADER, and /healthz is 200.
node_ok() {
  local st
  st=$(gnsctl_at "$1" -o json cluster status) || return 1
  echo "$st" | jq -e --arg x "${2:-}" \
    '(.members | length) == 3 and (.members | all(.grpc_addr != null and .grpc_addr != ""))
     and (.leader_id // "") != "" and .leader_id != $x' >/dev/null || { echo "$st"; return 1; }
  curl -fsS "http://${HTTP[$1]}/healthz"
}
# leader_of SERVICE: the leader as SERVICE sees it.
leader_of() { gnsctl_at "$1" -o json cluster status | jq -r '.leader_id // ""'; }
revision_of() { gnsctl_at "$1" -o json cluster status | jq -r '(.revision // "0") | tonumber'; }
rev_at_least() { local r; r=$(revision_of "$1") && [ "$r" -ge "$2" ]; }

# cluster_agrees NODE...: every NODE is healthy and they name the same leader
# (never one in $EXCLUDE).
EXCLUDE=""
cluster_agrees() {
  local n l first=""
  for n in "$@"; do
    node_ok "$n" "$EXCLUDE" >/dev/null || return 1
    l=$(leader_of "$n")
    [ -z "$first" ] && first=$l
    [ "$l" = "$first" ] || { echo "$n says leader $l, others $first"; return 1; }
  done
}

# mt_is SERVICE NUMBER GATEWAY: a stale (local) MT lookup on SERVICE answers GATEWAY.
mt_is() {
  local got
  got=$(gnsctl_at "$1" -o json route mt "$2" --stale | jq -r '.gateway.code') || return 1
  [ "$got" = "$3" ] || { echo "$1: route mt $2 -> $got, want $3"; return 1; }
}

# expect_mo CODE GATEWAY WANT_GW WANT_PARTITION: the linearizable MO lookup.
expect_mo() {
  local out gw part
  out=$(gnsctl_any -o json route mo "$1" --gateway "$2") || die "route mo $1 --gateway $2: $out"
  gw=$(echo "$out" | jq -r '.gateway.code')
  part=$(echo "$out" | jq -r '.partition // ""')
  [ "$gw" = "$3" ] && [ "$part" = "$4" ] ||
    die "route mo $1 --gateway $2: got gateway $gw partition '$part', want $3 '$4'"
  info "MO to $1 from $2 -> $(echo "$out" | jq -r '.sp.name') partition ${part:-(default)} -> $(echo "$out" | jq -r '.gateway.name') $gw"
}
expect_mt() {
  local out gw
  out=$(gnsctl_any -o json route mt "$1") || die "route mt $1: $out"
  gw=$(echo "$out" | jq -r '.gateway.code')
  [ "$gw" = "$2" ] || die "route mt $1: got gateway $gw, want $2"
  info "MT to $1 -> $(echo "$out" | jq -r '.gateway.name') $gw$( [ "$(echo "$out" | jq -r '.ported // false')" = true ] && echo ' (ported)')"
}

# ---------------------------------------------------------------- build
say "Build: static binaries and the FROM-scratch image $TANDEM_IMAGE"
t=$EPOCHREALTIME
CTX=$WORK/context
out=$(bash "$ROOT/deploy/build-image.sh" "$CTX" 2>"$WORK/build.log") || { cat "$WORK/build.log" >&2; die "deploy/build-image.sh"; }
read -r _ image_id image_size <<<"$out"
info "image $TANDEM_IMAGE ${image_id:7:12}, $image_size"
BIN=$CTX/bin # gnsctl and spsim on the host are the image's own builds
# The ISMGs mount deploy/config itself, unless a strict umask made it
# unreadable to them: then they mount the context's readable copy.
if [ -n "$(find "$ROOT/deploy/config" ! -perm -o+r -print -quit)" ]; then
  export TANDEM_CONFIG=$CTX/config
  info "deploy/config is not world-readable: mounting a readable copy"
fi
note "build (binaries + image)" "$(secs_since "$t")s"

# ---------------------------------------------------------------- up
# A /24 no route and no Docker network on this machine overlaps: the GNS
# nodes need fixed addresses (see compose.yaml).
ip2int() { local IFS=.; read -r a b c d <<<"$1"; echo $(( (a << 24) | (b << 16) | (c << 8) | d )); }
used_nets() {
  ip -4 route 2>/dev/null | awk '$1 ~ /^[0-9.]+(\/[0-9]+)?$/ { print $1 }'
  docker network ls -q | xargs -r docker network inspect -f '{{range .IPAM.Config}}{{println .Subnet}}{{end}}' 2>/dev/null
}
net_free() {
  local cs ce n addr len s e
  cs=$(ip2int "$1.0"); ce=$((cs + 255))
  while read -r n; do
    [[ $n =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?$ ]] || continue
    addr=${n%/*}; len=32
    [[ $n == */* ]] && len=${n#*/}
    s=$(( $(ip2int "$addr") & ~((1 << (32 - len)) - 1) & 0xffffffff )); e=$((s + (1 << (32 - len)) - 1))
    if [ "$s" -le "$ce" ] && [ "$cs" -le "$e" ]; then return 1; fi
  done < <(used_nets)
}

say "Start compose project $PROJECT"
t=$EPOCHREALTIME
STARTED=1
up_ok=0
for attempt in 1 2 3 4 5; do
  TANDEM_NET=""
  for _ in $(seq 1 50); do
    cand="10.213.$((RANDOM % 230 + 20))"
    if net_free "$cand"; then TANDEM_NET=$cand; break; fi
  done
  [ -n "$TANDEM_NET" ] || die "no free 10.213.x.0/24 for the compose network"
  export TANDEM_NET
  # The certificates name the GNS nodes' fixed addresses on this subnet.
  rm -rf "$TANDEM_TLS"
  BIN=$BIN bash "$ROOT/deploy/gen-certs.sh" "$TANDEM_TLS" >"$WORK/certs.log" 2>&1 ||
    { cat "$WORK/certs.log" >&2; die "deploy/gen-certs.sh"; }
  if dc up -d >"$WORK/up.log" 2>&1; then up_ok=1; break; fi
  # Another project may have taken the subnet between the check and here.
  grep -qi 'overlap' "$WORK/up.log" || { cat "$WORK/up.log" >&2; die "docker-compose up"; }
  dc down -v --remove-orphans -t 1 >/dev/null 2>&1 || true
done
[ "$up_ok" = 1 ] || { cat "$WORK/up.log" >&2; die "docker-compose up: no free subnet after 5 tries"; }
info "network $TANDEM_NET.0/24"
wait_for 30 "published ports" refresh_ports gns1 gns2 gns3
note "docker-compose up -d" "$(secs_since "$t")s"

# ---------------------------------------------------------------- GNS
say "GNS: wait for the three-node cluster"
t=$EPOCHREALTIME
wait_for 60 "the GNS cluster (3 members, one leader, healthy)" cluster_agrees gns1 gns2 gns3
gnsctl_any cluster status | sed 's/^/   /'
note "GNS cluster formed" "$(secs_since "$t")s"

say "GNS: nothing unauthenticated changes state"
for n in gns1 gns2 gns3; do
  dc logs --no-color "$n" >"$WORK/log-$n" 2>&1 || true
  grep -q 'raft started.*tls=true' "$WORK/log-$n" || die "$n: Raft is not on mutual TLS"
done
info "Raft between the nodes: mutual TLS (certificates of the run's CA, deploy/gen-certs.sh)"
if out=$("$BIN/gnsctl" -addr "${GRPC[gns1]}" -tls-ca "$TANDEM_TLS/ca.pem" -timeout 3s segment add 1880099 001001 2>&1); then
  die "a write without the token was accepted: $out"
fi
info "gRPC write without the token: refused ($(echo "$out" | tail -n1 | cut -c1-80))"
if out=$("$BIN/gnsctl" -addr "${GRPC[gns1]}" -token compose-gns-token -timeout 3s segment add 1880099 001001 2>&1); then
  die "a plaintext gRPC write was accepted: $out"
fi
info "gRPC write in plaintext: refused ($(echo "$out" | tail -n1 | cut -c1-80))"

say "GNS: push deploy/config/routes.yaml"
t=$EPOCHREALTIME
out=$(gnsctl_any table push -y "$ROOT/deploy/config/routes.yaml" 2>&1) || die "table push: $out"
echo "$out" | sed 's/^/   /'
REV=$(revision_of "$(leader_of gns1)")
for n in gns1 gns2 gns3; do
  wait_for 10 "$n to apply revision $REV" rev_at_least "$n" "$REV"
done
info "every node at revision $REV"
note "table push + replication" "$(secs_since "$t")s"

say "GNS: the documents' resolutions"
expect_mo 10657001 022001 001001 north     # Tianjin user -> Sina -> Beijing
expect_mo 10657001 077101 020001 south     # Guangxi user -> Sina -> Guangzhou
expect_mo 10662020 001001 020001 ""        # Guangzhou Lottery, homed in Guangzhou
expect_mt 13800100001 001001
expect_mt 13802001234 020001
expect_mt 13800100099 020001               # ported Beijing -> Guangzhou
for n in gns1 gns2 gns3; do mt_is "$n" 13902200077 022001 || die "stale lookup on $n"; done
info "stale lookups agree on every node"

# ---------------------------------------------------------------- failover
say "GNS: kill the leader's container"
LEADER=$(leader_of gns1)
[[ $LEADER =~ ^gns[123]$ ]] || die "unexpected leader id '$LEADER'"
SURVIVORS=()
for n in gns1 gns2 gns3; do [ "$n" = "$LEADER" ] || SURVIVORS+=("$n"); done
cid=$(dc ps -q "$LEADER")
t=$EPOCHREALTIME
docker kill "$cid" >/dev/null
info "killed $LEADER (container ${cid:0:12})"
EXCLUDE=$LEADER
# node_ok wants three members and a leader other than the dead one.
survivors_agree() {
  local a b
  a=$(leader_of "${SURVIVORS[0]}") && b=$(leader_of "${SURVIVORS[1]}") || return 1
  [ -n "$a" ] && [ "$a" != "$LEADER" ] && [ "$a" = "$b" ] || { echo "leaders: $a / $b"; return 1; }
}
wait_for 30 "a new leader among ${SURVIVORS[*]}" survivors_agree
NEW_LEADER=$(leader_of "${SURVIVORS[0]}")
ELECT=$(secs_since "$t")
info "new leader $NEW_LEADER after ${ELECT}s"
note "leader $LEADER killed -> $NEW_LEADER elected" "${ELECT}s"

# Write through the survivor that is not the leader when there is one, so
# the forwarding path is exercised too.
W=${SURVIVORS[0]}
[ "$W" = "$NEW_LEADER" ] && W=${SURVIVORS[1]}
t=$EPOCHREALTIME
out=$(gnsctl_at "$W" segment add 1880010 001001 --smsc north --area 010 2>&1) || die "write through $W: $out"
info "segment add 1880010 -> 001001 through $W: $out"
for n in "${SURVIVORS[@]}"; do
  wait_for 10 "the new segment on $n" mt_is "$n" 18800100001 001001
done
REV2=$(revision_of "$NEW_LEADER")
info "visible on ${SURVIVORS[*]} at revision $REV2"
note "write via $W, visible on both survivors" "$(secs_since "$t")s"

say "GNS: restart $LEADER and let it catch up"
t=$EPOCHREALTIME
dc start "$LEADER" >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log" >&2; die "docker-compose start $LEADER"; }
wait_for 30 "published ports of $LEADER" refresh_ports "$LEADER"
EXCLUDE=""
caught_up() {
  node_ok "$LEADER" >/dev/null || return 1
  mt_is "$LEADER" 18800100001 001001 || return 1
  [ "$(revision_of "$LEADER")" -ge "$REV2" ]
}
wait_for 60 "$LEADER to rejoin and reach revision $REV2" caught_up
wait_for 30 "all three nodes to agree on a leader" cluster_agrees gns1 gns2 gns3
gnsctl_any cluster status | sed 's/^/   /'
note "$LEADER restarted and caught up" "$(secs_since "$t")s"

# ---------------------------------------------------------------- traffic
# The SPs send at -rate 2500/s, under their contracted submit_rate (5000/s,
# burst 500, in deploy/config): above it the ISMG rightly answers Result 8
# (flow control), which spsim counts as rejected rather than retrying.
# Destinations stay clear of the ported numbers (13800100099 is in
# 1380010…, 13902200077 in 1390220…): they belong to another gateway than
# their segment's, and would make the per-gateway counts below uneven.
ismg_healthy() { local hp; hp=$(hostport "$1" 9190) && curl -fsS "http://$hp/healthz"; }
# The gateways' services: Beijing runs as two nodes (region HA).
ISMGS=(ismg-bj-a ismg-bj-b ismg-tj ismg-gz ismg-nn)
# lease_holder STORE: who holds STORE's lease in the GNS ("" when nobody).
lease_holder() {
  gnsctl_any -o json store list | jq -r --arg s "$1" '[.[] | select(.store_id == $s) | .holder][0] // ""'
}
# holder_is STORE HOLDER: STORE's lease is HOLDER's ("" for free).
holder_is() {
  local h
  h=$(lease_holder "$1") || return 1
  [ "$h" = "$2" ] || { echo "store $1 held by '${h}', want '$2'"; return 1; }
}
# siblings_up SERVICE OTHER_NODE: SERVICE's /status lists OTHER_NODE as a
# live sibling with its link up.
siblings_up() {
  local hp
  hp=$(hostport "$1" 9190) || return 1
  curl -fsS "http://$hp/status" | jq -e --arg n "$2" '[.siblings[]? | select(.node == $n and .link_up and .conflict == null)] | length == 1' >/dev/null ||
    { curl -fsS "http://$hp/status" | jq -c '.siblings'; return 1; }
}
run_traffic() { # NAME SERVICE SPSIM-ARGS...
  local name=$1 svc=$2 addr res ok
  shift 2
  wait_for 30 "$svc /healthz" ismg_healthy "$svc"
  addr=$(hostport "$svc" 7890) || die "no published CMPP port for $svc"
  local t=$EPOCHREALTIME
  res=$("$BIN/spsim" -addr "$addr" -n "$MESSAGES" -conns 2 -rate 2500 -wait-reports -report-timeout 60s -json "$@" 2>"$WORK/spsim-$svc.err") ||
    { cat "$WORK/spsim-$svc.err" >&2; echo "$res" >&2; die "spsim against $svc ($name)"; }
  ok=$(echo "$res" | jq --argjson n "$MESSAGES" \
    '.messages == $n and .acked == .submitted and .acked >= $n and .reports == .acked
     and .no_report == 0 and .errors == 0 and ((.rejected // {}) | length) == 0
     and .duplicate_reports == 0 and .unknown_reports == 0 and .bad_reports == 0')
  [ "$ok" = true ] || { echo "$res" >&2; die "spsim against $svc ($name): not every message was acked and reported"; }
  info "$(echo "$res" | jq -r '"\(.acked) acked, \(.reports) reports \(.reports_by_stat | tostring), \(.throughput | floor)/s, submit p50 \(.submit_latency.p50_ns / 1e6 | . * 10 | floor / 10) ms p99 \(.submit_latency.p99_ns / 1e6 | . * 10 | floor / 10) ms, report p99 \(.report_latency.p99_ns / 1e6 | floor) ms"')"
  note "$name: $MESSAGES msgs, all reported" "$(secs_since "$t")s"
}

say "ISMGs: configs generated from deploy/regions, routes from the GNS"
gen=$WORK/gen-config
bash "$ROOT/deploy/gen-config.sh" "$gen"
for f in "$gen"/*.yaml; do
  cmp -s "$f" "$ROOT/deploy/config/$(basename "$f")" ||
    die "deploy/config/$(basename "$f") is not what deploy/gen-config.sh writes: run it and commit the result"
done
for svc in "${ISMGS[@]}"; do
  wait_for 60 "$svc /healthz (its route cache has the table)" ismg_healthy "$svc"
done
info "four gateways, five nodes up: $(ls "$gen" | tr '\n' ' ')"
say "Beijing: two active nodes of gateway 001001, siblings, each owning its store"
wait_for 30 "ismg-bj-a to see bj-b as a sibling" siblings_up ismg-bj-a bj-b
wait_for 30 "ismg-bj-b to see bj-a as a sibling" siblings_up ismg-bj-b bj-a
holder_is 001001-bj-a bj-a || die "store lease of bj-a"
holder_is 001001-bj-b bj-b || die "store lease of bj-b"
for n in a b; do
  info "ismg-bj-$n: $(curl -fsS "http://$(hostport "ismg-bj-$n" 9190)/healthz" | grep -m1 '^gateway' || true)"
done
gnsctl_any store list | sed 's/^/   /'

say "SP traffic: Sina at ISMG Beijing (001001) node a, CMPP 3.0, to Beijing numbers"
run_traffic "Beijing node a (Sina, CMPP 3.0 ascii)" ismg-bj-a -sp-id 901234 -secret sina-secret -src-id 10657001 \
  -dest-prefix 1390010 -version 3.0 -coding ascii -text "Hello from Sina"
say "SP traffic: Guangzhou Lottery at ISMG Guangzhou (020001), CMPP 2.0 GBK, to Guangzhou numbers"
run_traffic "Guangzhou (Lottery, CMPP 2.0 gbk)" ismg-gz -sp-id 902002 -secret lottery-secret -src-id 10662020 \
  -dest-prefix 1380200 -version 2.0 -coding gbk -text "广州彩票：今晚开奖"
say "SP traffic across regions: Sina at Beijing's node a to Guangzhou numbers (CMPP_FWD to 020001, reports back)"
run_traffic "Beijing a -> Guangzhou (Sina, CMPP_FWD)" ismg-bj-a -sp-id 901234 -secret sina-secret -src-id 10657001 \
  -dest-prefix 1380201 -version 3.0 -coding ucs2 -text "新浪：跨区短信"
say "SP traffic across regions: Sina at Beijing's node b to Nanning numbers (CMPP_FWD to 077101, reports back)"
run_traffic "Beijing b -> Nanning (Sina, CMPP_FWD)" ismg-bj-b -sp-id 901234 -secret sina-secret -src-id 10657001 \
  -dest-prefix 1380771 -version 3.0 -coding ascii -text "Sina to Guangxi"

# The current hour's CDR file is finalized (renamed from .part) when the
# ISMG stops, so stop both gracefully first: SIGTERM, drain, unbind.
say "ISMGs: graceful stop (SIGTERM), then billing from the CDRs on their volumes"
t=$EPOCHREALTIME
dc stop -t 20 "${ISMGS[@]}" >"$WORK/stop.log" 2>&1 || { cat "$WORK/stop.log" >&2; die "docker-compose stop"; }
note "ISMGs stopped gracefully" "$(secs_since "$t")s"
check_cdrs() { # SERVICE SP_ID MT-COUNT [DATA_DIR]
  local svc=$1 sp=$2 n=$3 dir=${4:-/var/lib/tandem/ismg} cid vol code out ok
  cid=$(dc ps -q "$svc")
  code=$(docker inspect -f '{{.State.ExitCode}}' "$cid")
  [ "$code" = 0 ] || die "$svc exited with status $code on SIGTERM"
  vol=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/var/lib/tandem"}}{{.Name}}{{end}}{{end}}' "$cid")
  out=$(docker run --rm --network none -v "$vol:/var/lib/tandem:ro" "$TANDEM_IMAGE" \
    /bin/billing report -dir "$dir/cdr" -by sp -o json 2>&1) || die "billing report on $svc: $out"
  ok=$(echo "$out" | jq --arg sp "$sp" --argjson n "$n" \
    'map(select(.sp_id == $sp)) | length == 1 and (.[0] | .mt == $n and .reports == $n and .delivered + .failed == $n and .pending == 0)') ||
    die "billing report on $svc: $out"
  [ "$ok" = true ] || { echo "$out" >&2; die "$svc CDRs: want $n MT and $n reports for SP $sp"; }
  info "$svc CDRs (volume $vol, $dir): $(echo "$out" | jq -r --arg sp "$sp" '.[] | select(.sp_id == $sp) | "SP \(.sp_id): \(.mt) MT, \(.reports) reports, \(.delivered) delivered, \(.failed) failed"')"
}
check_cdrs ismg-bj-a 901234 $((2 * MESSAGES)) /var/lib/tandem/ismg-a # local, to Guangzhou
check_cdrs ismg-bj-b 901234 "$MESSAGES" /var/lib/tandem/ismg-b       # to Nanning
check_cdrs ismg-gz 902002 "$MESSAGES"
# The settlement: what Beijing forwarded out, Guangzhou and Nanning took in.
settle() { # SERVICE PEER DIRECTION [DATA_DIR]: the MT count of that row of billing -by gateway
  local cid vol dir=${4:-/var/lib/tandem/ismg}
  cid=$(dc ps -q "$1")
  vol=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/var/lib/tandem"}}{{.Name}}{{end}}{{end}}' "$cid")
  docker run --rm --network none -v "$vol:/var/lib/tandem:ro" "$TANDEM_IMAGE" \
    /bin/billing report -dir "$dir/cdr" -by gateway -o json 2>/dev/null |
    jq --arg gw "$2" --arg dir "$3" '[.[] | select(.gateway == $gw and .direction == $dir) | .mt] | add // 0'
}
for peer in 020001:ismg-gz:a 077101:ismg-nn:b; do
  IFS=: read -r code svc node <<<"$peer"
  out_n=$(settle "ismg-bj-$node" "$code" FWD_OUT "/var/lib/tandem/ismg-$node"); in_n=$(settle "$svc" 001001 FWD_IN)
  [ "$out_n" = "$MESSAGES" ] && [ "$in_n" = "$MESSAGES" ] ||
    die "settlement with $code: Beijing ($node) FWD_OUT $out_n, $svc FWD_IN $in_n, want $MESSAGES each"
  info "settlement Beijing node $node -> $code: $out_n MT forwarded out, $in_n taken in"
done

# ---------------------------------------------------------------- faults
say "ISMGs: start again for the fault table"
t=$EPOCHREALTIME
dc start "${ISMGS[@]}" >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log" >&2; die "docker-compose start the ISMGs"; }
for svc in "${ISMGS[@]}"; do
  wait_for 60 "$svc /healthz after the restart" ismg_healthy "$svc"
done
note "ISMGs restarted from their volumes" "$(secs_since "$t")s"
FAULTS_T0=$EPOCHREALTIME
# shellcheck source=deploy/compose-faults.sh
. "$ROOT/deploy/compose-faults.sh"
note "fault table: ${#FAULT_ROWS[@]} faults, nothing lost" "$(secs_since "$FAULTS_T0")s"

# ---------------------------------------------------------------- summary
say "Summary ($PROJECT, network $TANDEM_NET.0/24)"
for line in "${SUMMARY[@]}"; do info "$line"; done
