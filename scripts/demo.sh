#!/usr/bin/env bash
# make demo: everything Tandem does today, end to end on loopback (no Docker).
#
#   scripts/demo.sh        the whole demo: start the federation, run the
#                          documents' flows, print what happened, stop
#   scripts/demo.sh up     start the federation and leave it running (make up)
#   scripts/demo.sh flows  run the flows against a running federation
#   scripts/demo.sh down   stop what `up` started (make down)
#
# The federation: a 3-node GNS cluster (Raft over mutual TLS, certificates
# made with `gns cert`), the sample route table pushed with gnsctl, and four
# regional ISMGs — Beijing, Tianjin, Guangzhou, Nanning (Guangxi) — each with
# its SMSC simulator, following the GNS for their routes and exchanging
# CMPP_FWD with each other. Beijing is served by two nodes (region HA):
# Beijing-a and Beijing-b, siblings of gateway 001001 with their stores
# leased in the GNS, each able to adopt the other's store.
#
# The flows, in order (README "Two commands" says what each shows):
#   1. MT from Sina at Beijing to every region, every report awaited
#   2. MO from every region's users to SP partitions (Sina north/south, Lottery)
#   3. a live route change under traffic (gnsctl segment add)
#   4. an SP account defined once in the GNS (gnsctl sp add/set): logins at
#      two gateways, a secret rotated live
#   5. operator tools: ismgctl sp list, link stop/start, trace of a
#      cross-region MT, billing report -by sp, the consoles
#   6. region HA: kill -9 of Beijing-a under load, the SP carries on at
#      Beijing-b, which adopts a's store and drains it; a comes back (fenced
#      while b holds its store, or taking it back once released)
#   7. billing: the settlement with each peer gateway
# Logs, records and data stay in .demo/. Every wait polls a condition with a
# deadline (metrics, /healthz), not a fixed sleep.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
DEMO=$PWD/.demo
PIDFILE=$DEMO/pids

# Regions: code name region smsc-link (the link named in their segments).
REGIONS=(
  "001001 Beijing beijing north"
  "022001 Tianjin tianjin north"
  "020001 Guangzhou guangdong south"
  "077101 Nanning guangxi south"
)
# Ports of node i: SMSC 174i1, CMPP 175i1, HTTP 176i1, admin 177i1, gossip
# 178i1, FWD 179i1. Nodes 0..3 are the regions' (0 is Beijing-a); node 4 is
# Beijing-b, which shares Beijing's SMSC (with its own ESME account).
port() { echo "17${1}${2}1"; } # kind-digit node-index
GNS_GRPC=127.0.0.1:17101,127.0.0.1:17102,127.0.0.1:17103
GNSCTL=("$BIN/gnsctl" -addr "$GNS_GRPC")
export ISMG_TOKEN=demo-admin-token # admin.token in the templates (ismgctl)
ISMGCTL=("$BIN/ismgctl" --timeout 10s)
# Beijing numbers for Beijing-local traffic: 1380010 is Beijing's segment,
# but its 13800100099 is ported to Guangzhou, and a random number of the
# segment may hit it; 13800101xxx never does. (In the HA step such an MT,
# forwarded by Beijing-a before the kill, gets its report from Guangzhou,
# which does not gossip, at the table's fwd_addr for 001001 — Beijing-a's,
# dead — so a's store would wait for it: README "make demo".)
BJ_LOCAL=13800101
BJ_STORE_A=001001-Beijing-a # ha.store_id of the Beijing nodes
BJ_STORE_B=001001-Beijing-b

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
wait_http() { # URL [seconds]: wait until it answers 200
  local n=$(( ${2:-20} * 10 ))
  for _ in $(seq 1 "$n"); do
    if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $1:" >&2; curl -sS "$1" >&2 || true; return 1
}
wait_until() { # seconds what command...: poll the command (every 0.1 s) until it succeeds
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || { echo "demo: timed out waiting for $what" >&2; return 1; }
    sleep 0.1
  done
}
at_least() { # N command...: the number the command prints is at least N
  local v; v=$("${@:2}") && [ "$v" -ge "$1" ]
}
start() { # name command...: start in the background, log to .demo/logs/name.log
  local name=$1; shift
  "$@" >"$DEMO/logs/$name.log" 2>&1 &
  echo "$! $name" >>"$PIDFILE"
}
pid_of() { awk -v n="$1" '$2 == n { p = $1 } END { print p }' "$PIDFILE"; }
forget() { sed -i "/ $1\$/d" "$PIDFILE"; } # name: a process that is gone
down() {
  [ -f "$PIDFILE" ] || return 0
  # Stop in reverse order: SPs' gateways first, the GNS last.
  tac "$PIDFILE" | while read -r pid _; do kill -TERM "$pid" 2>/dev/null || true; done
  tac "$PIDFILE" | while read -r pid _; do
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$PIDFILE"
}
# metric URL NAME [label-filter...]: the sum of a Prometheus series (0 when
# the node does not answer).
metric() {
  local url=$1 name=$2; shift 2
  { curl -fsS "$url/metrics" 2>/dev/null || true; } | awk -v n="$name" -v f="$*" '
    BEGIN { k = split(f, want, " ") }
    $1 ~ "^"n"({|$)" { ok = 1; for (i = 1; i <= k; i++) if (index($1, want[i]) == 0) ok = 0; if (ok) s += $NF }
    END { printf "%d\n", s }'
}
http_of() { echo "http://127.0.0.1:$(port 6 "$1")"; }
admin_of() { echo "127.0.0.1:$(port 7 "$1")"; }
nodes_of() { if [ "$1" = 0 ]; then echo "0 4"; else echo "$1"; fi } # region index → node indexes
# gw_metric REGION-INDEX NAME [filters]: a series summed over the region's nodes.
gw_metric() {
  local i=$1 s=0 n; shift
  for n in $(nodes_of "$i"); do s=$(( s + $(metric "$(http_of "$n")" "$@") )); done
  echo "$s"
}
# caches_at REV: every ISMG's route cache has reached revision REV.
caches_at() {
  local n
  for n in 0 1 2 3 4; do at_least "$1" metric "$(http_of $n)" federation_routecache_revision || return 1; done
}
revision_of() { grep -o 'revision [0-9]*' <<<"$1" | awk 'NR == 1 { print $2 }'; } # of gnsctl's "ok, revision N"
runid() { od -An -N4 -tx1 /dev/urandom | tr -d ' \n'; } # an spsim -run-id: 8 hex digits

# peers_sed CODE: a sed command adding federation.peers to a config, every
# other gateway with its HTTP port (where ismgctl trace asks it).
peers_sed() {
  local own=$1 s='&\n  peers:' j=0 code
  for r in "${REGIONS[@]}"; do
    read -r code _ <<<"$r"
    [ "$code" = "$own" ] || s+=$(printf '\\n    - {code: "%s", http_addr: "127.0.0.1:%s"}' "$code" "$(port 6 $j)")
    j=$((j + 1))
  done
  echo "s#^  max_nodes: .*#$s#"
}
# beijing_config a|b: the config of Beijing's node a (node 0) or b (node 4).
beijing_config() {
  local me=$1 other n idx dir sdir
  if [ "$me" = a ]; then other=b n=0 idx=0 dir=Beijing sdir=Beijing-b; else other=a n=4 idx=1 dir=Beijing-b sdir=Beijing; fi
  sed -e "s#@CODE@#001001#g" -e "s#@NAME@#Beijing#" -e "s#@REGION@#beijing#" -e "s#@LINK@#north#" \
      -e "s#@NODE@#Beijing-$me#g" -e "s#@NODEINDEX@#$idx#" -e "s#@SIBLING@#Beijing-$other#" \
      -e "s#@SIBLINGCONFIG@#../$sdir/ismg.yaml#" -e "s#@ESME@#ismg001001$me#" \
      -e "s#@DATA@#$DEMO/$dir/data#" -e "s#@CMPP@#127.0.0.1:$(port 5 $n)#" \
      -e "s#@HTTP@#127.0.0.1:$(port 6 $n)#" -e "s#@FWD@#127.0.0.1:$(port 9 $n)#" \
      -e "s#@ADMIN@#127.0.0.1:$(port 7 $n)#" -e "s#@GOSSIP@#127.0.0.1:$(port 8 $n)#" \
      -e "s#@SEEDS@#127.0.0.1:$(port 8 0), 127.0.0.1:$(port 8 4)#" -e "s#@GOSSIPKEY@#$(cat "$DEMO/gossip.key")#" \
      -e "s#@SMSC@#127.0.0.1:$(port 4 0)#" -e "s#@GNS@#${GNS_GRPC//,/, }#" -e "$(peers_sed 001001)" \
      testdata/ismg/region-ha.yaml.in >"$DEMO/$dir/ismg.yaml"
}

up() {
  [ -f "$PIDFILE" ] && { echo "already up (make down first)" >&2; exit 1; }
  rm -rf "$DEMO"; mkdir -p "$DEMO/logs" "$DEMO/certs" "$DEMO/routes" "$DEMO/Beijing-b"
  write_mo

  step "GNS: three Raft nodes on loopback, Raft over mutual TLS"
  "$BIN/gns" cert ca -out "$DEMO/certs/ca" >/dev/null
  for i in 1 2 3; do
    "$BIN/gns" cert node -ca "$DEMO/certs/ca" -id gns$i -host 127.0.0.1 -out "$DEMO/certs" >/dev/null
  done
  gns() { # i extra-flags...
    local i=$1; shift
    start gns$i "$BIN/gns" -id gns$i -data "$DEMO/gns$i" -raft 127.0.0.1:1700$i -grpc 127.0.0.1:1710$i \
      -cmpp 127.0.0.1:1720$i -http 127.0.0.1:1730$i \
      -raft-tls-cert "$DEMO/certs/gns$i.pem" -raft-tls-key "$DEMO/certs/gns$i.key" \
      -raft-tls-ca "$DEMO/certs/ca/ca.pem" "$@"
  }
  gns 1 -bootstrap
  wait_http http://127.0.0.1:17301/healthz
  gns 2 -join 127.0.0.1:17101
  gns 3 -join 127.0.0.1:17101
  for i in 2 3; do wait_http http://127.0.0.1:1730$i/healthz; done
  "${GNSCTL[@]}" cluster status

  step "Push the route table (testdata/routes/sample.yaml, FWD addresses of this demo)"
  local sed_args=() i=0
  for r in "${REGIONS[@]}"; do
    read -r code _ <<<"$r"
    sed_args+=(-e "/code: \"$code\"/,/fwd_addr/s#fwd_addr: .*#fwd_addr: 127.0.0.1:$(port 9 $i)#")
    i=$((i + 1))
  done
  sed "${sed_args[@]}" testdata/routes/sample.yaml >"$DEMO/routes/routes.yaml"
  cp testdata/routes/segments.csv "$DEMO/routes/"
  "${GNSCTL[@]}" table push -y "$DEMO/routes/routes.yaml"

  step "Four regional ISMGs, each with its SMSC simulator; Beijing on two nodes (region HA)"
  head -c 32 /dev/urandom | base64 >"$DEMO/gossip.key" # the Beijing nodes' gossip key
  i=0
  for r in "${REGIONS[@]}"; do
    read -r code name region link <<<"$r"
    mkdir -p "$DEMO/$name"
    local rec=()
    # Beijing's SMSC records what it accepts (client keys), for the HA step.
    [ "$i" = 0 ] && rec=(-record "$DEMO/Beijing/smsc.jsonl")
    start "smscsim-$name" "$BIN/smscsim" -listen "127.0.0.1:$(port 4 $i)" -delay 20ms -stats 0 \
      -mo-file "$DEMO/$name/mo.txt" "${rec[@]}"
    if [ "$i" = 0 ]; then
      beijing_config a
      beijing_config b
      start "ismg-Beijing" "$BIN/ismg" -config "$DEMO/Beijing/ismg.yaml"
      wait_http "$(http_of 0)/healthz" 30 # the gossip seed first
      start "ismg-Beijing-b" "$BIN/ismg" -config "$DEMO/Beijing-b/ismg.yaml"
    else
      sed -e "s#@CODE@#$code#g" -e "s#@NAME@#$name#" -e "s#@REGION@#$region#" -e "s#@LINK@#$link#" \
          -e "s#@DATA@#$DEMO/$name/data#" -e "s#@CMPP@#127.0.0.1:$(port 5 $i)#" \
          -e "s#@HTTP@#127.0.0.1:$(port 6 $i)#" -e "s#@FWD@#127.0.0.1:$(port 9 $i)#" \
          -e "s#@SMSC@#127.0.0.1:$(port 4 $i)#" -e "s#@GNS@#${GNS_GRPC//,/, }#" \
          -e "s#^  admin: 127.0.0.1:0 #  admin: $(admin_of $i) #" -e "$(peers_sed "$code")" \
          testdata/ismg/region.yaml.in >"$DEMO/$name/ismg.yaml"
      start "ismg-$name" "$BIN/ismg" -config "$DEMO/$name/ismg.yaml"
    fi
    i=$((i + 1))
  done
  printf '%-10s %-7s %-16s %-16s %-16s %s\n' node gateway SPs FWD admin console
  for n in 0 4 1 2 3; do
    wait_http "$(http_of $n)/healthz" 30
    local label
    case $n in 0) label=Beijing-a ;; 4) label=Beijing-b ;; *) read -r _ label _ <<<"${REGIONS[$n]}" ;; esac
    printf '%-10s %-7s %-16s %-16s %-16s %s/\n' "$label" "$(curl -fsS -o /dev/null -D - "$(http_of $n)/healthz" |
      awk -F': ' 'tolower($1) == "x-tandem-gateway" { sub(/\r/, "", $2); print $2 }')" \
      "127.0.0.1:$(port 5 $n)" "127.0.0.1:$(port 9 $n)" "$(admin_of $n)" "$(http_of $n)"
  done
  wait_until 30 "the two Beijing nodes to see each other as siblings" \
    eval 'at_least 1 metric "$(http_of 0)" ismg_siblings_live && at_least 1 metric "$(http_of 4)" ismg_siblings_live'
  echo "Beijing-a and Beijing-b are siblings (gossip, sibling links up); their stores are leased in the GNS:"
  "${GNSCTL[@]}" store list
}

# MO files: each region's users text Sina (10657001) and Guangzhou Lottery
# (10662020). They are written before up starts the simulators, which
# inject them once the ISMGs bind.
write_mo() {
  mkdir -p "$DEMO/Beijing" "$DEMO/Tianjin" "$DEMO/Guangzhou" "$DEMO/Nanning"
  printf '13800100001 10657001 NEWS BEIJING\n13800100002 10662020 LOTTERY FROM BEIJING\n' >"$DEMO/Beijing/mo.txt"
  printf '13802200001 10657001 NEWS TIANJIN\n13802200002 10662020 LOTTERY FROM TIANJIN\n' >"$DEMO/Tianjin/mo.txt"
  printf '13802000001 10657001 NEWS GUANGZHOU\n13802000002 10662020 LOTTERY FROM GUANGZHOU\n' >"$DEMO/Guangzhou/mo.txt"
  printf '13807710001 10657001 NEWS GUANGXI\n13807710002 10662020 LOTTERY FROM GUANGXI\n' >"$DEMO/Nanning/mo.txt"
}

# mt_flow LABEL DEST-PREFIX N [RECORD-FILE]: Sina at Beijing(-a) sends N MT
# and waits for every report; prints a row of the flow table.
mt_flow() {
  local label=$1 prefix=$2 n=$3 out rec=()
  [ -n "${4:-}" ] && rec=(-record "$4")
  out=$("$BIN/spsim" -addr "127.0.0.1:$(port 5 0)" -sp-id 901234 -secret sina-secret -src-id 10657001 \
    -dest-prefix "$prefix" -n "$n" -conns 2 -window 16 -wait-reports -report-timeout 60s -json "${rec[@]}")
  jq -r --arg l "$label" '[$l, .submitted, .acked, .reports,
      (.submit_latency.p50_ns/1e6*100|round/100), (.submit_latency.p99_ns/1e6*100|round/100),
      (.report_latency.p50_ns/1e6*100|round/100), (.report_latency.p99_ns/1e6*100|round/100)] | @tsv' <<<"$out"
}

# sp_login GATEWAY-INDEX SP SECRET SRC-ID DEST-PREFIX N [spsim flags...]: an
# SP logs in and sends N MT (reports awaited); prints the JSON summary.
sp_login() {
  local i=$1 sp=$2 secret=$3 src=$4 prefix=$5 n=$6; shift 6
  "$BIN/spsim" -addr "127.0.0.1:$(port 5 "$i")" -sp-id "$sp" -secret "$secret" -src-id "$src" \
    -dest-prefix "$prefix" -n "$n" -wait-reports -report-timeout 30s -json "$@"
}

flows() {
  command -v jq >/dev/null || { echo "demo: needs jq" >&2; exit 2; }
  [ -f "$PIDFILE" ] || { echo "demo: not up (scripts/demo.sh up first)" >&2; exit 1; }
  mkdir -p "$DEMO/rec"
  mt_flows
  mo_flows
  route_change
  gns_accounts
  operator_tools
  region_ha
  step "Billing at Beijing (both nodes' CDRs): the settlement with each peer gateway"
  "$BIN/billing" report -dir "$DEMO/Beijing/data/cdr" -dir "$DEMO/Beijing-b/data/cdr" -by peer 2>/dev/null || true
}

mt_flows() {
  step "MT: Sina submits at Beijing for a number of every region (500 each, every report awaited)"
  printf 'flow\tsent\tacked\treports\tresp-p50-ms\tresp-p99-ms\treport-p50-ms\treport-p99-ms\n' >"$DEMO/mt.tsv"
  mt_flow "Beijing → Beijing (local)"          "$BJ_LOCAL" 500 >>"$DEMO/mt.tsv"
  mt_flow "Beijing → Tianjin → Beijing"        1380220 500 >>"$DEMO/mt.tsv"
  rm -f "$DEMO/rec/mt-guangzhou.jsonl"
  mt_flow "Beijing → Guangzhou → Beijing"      1380200 500 "$DEMO/rec/mt-guangzhou.jsonl" >>"$DEMO/mt.tsv"
  mt_flow "Beijing → Nanning → Beijing"        1380771 500 >>"$DEMO/mt.tsv"
  column -t -s $'\t' "$DEMO/mt.tsv"
  echo
  echo "delivered by each region's SMSC link, and the FWDs that carried them (Beijing: both nodes):"
  local i=0
  for r in "${REGIONS[@]}"; do
    read -r code name _ <<<"$r"
    printf '  %-10s submit_sm ok %5s   MT FWDs sent %4s  received %4s   reports sent back %4s\n' "$name" \
      "$(gw_metric $i ismg_smsc_submits_total 'result="ok"')" \
      "$(gw_metric $i ismg_fwd_sent_total 'type="mt"' 'result="ok"')" \
      "$(gw_metric $i ismg_fwd_received_total 'type="mt"' 'outcome="ok"')" \
      "$(gw_metric $i ismg_fwd_sent_total 'type="mt_report"' 'result="ok"')"
    i=$((i + 1))
  done
}

mo_arrived() { # MO that reached their SP's gateway (kept there, or received by FWD), over the federation
  local i s=0
  for i in 0 1 2 3; do
    s=$(( s + $(gw_metric $i ismg_mo_total 'result="local"') + $(gw_metric $i ismg_fwd_received_total 'type="mo"' 'outcome="ok"') ))
  done
  echo "$s"
}
mo_taken() { # node: MO its SMSC binds brought it that it took (kept or forwarded)
  echo $(( $(metric "$(http_of "$1")" ismg_mo_total 'result="local"') + $(metric "$(http_of "$1")" ismg_mo_total 'result="fwd"') ))
}
mo_delivered() { # every MO delivered to its SP: Sina at Beijing 2, at Guangzhou 2, the Lottery 4
  at_least 2 gw_metric 0 ismg_sp_delivers_total 'sp="901234"' 'kind="mo"' 'result="ok"' &&
    at_least 2 gw_metric 2 ismg_sp_delivers_total 'sp="901234"' 'kind="mo"' 'result="ok"' &&
    at_least 4 gw_metric 2 ismg_sp_delivers_total 'sp="902002"' 'kind="mo"' 'result="ok"'
}
mo_reports_back() { # MO reports (type 3) received back at the users' gateways: one per forwarded MO
  local i s=0
  for i in 0 1 2 3; do s=$(( s + $(gw_metric $i ismg_fwd_mo_reports_total) )); done
  echo "$s"
}

mo_flows() {
  step "MO: every region's users text Sina (partitions: north Beijing, south Guangzhou) and Guangzhou Lottery"
  # The SMSC simulators inject the MO once their ISMG binds; a gateway
  # refuses it (temporarily) until it has its route table, and the SMSC
  # retries. Wait until all eight reached their SP's gateway, where they
  # wait for the SP; then the SPs log in (a short MT run each) and get them.
  # The MO are injected once per `up`: a later `flows` only prints the
  # counters (since each node's start: a node restarted by the HA step
  # starts from 0).
  if [ ! -f "$DEMO/mo.done" ]; then
    wait_until 60 "the eight MO to reach their SPs' gateways" at_least 8 mo_arrived
    local deadline=$((SECONDS + 60))
    until mo_delivered; do
      [ $SECONDS -lt $deadline ] || { echo "demo: MO not delivered to the SPs" >&2; return 1; }
      local logins=()
      sp_login 0 901234 sina-secret 10657001 "$BJ_LOCAL" 10 -rate 20 >/dev/null & logins+=($!)
      sp_login 2 901234 sina-secret 10657001 1380200 10 -rate 20 >/dev/null & logins+=($!)
      sp_login 2 902002 lottery-secret 10662020 1380200 10 -rate 20 >/dev/null & logins+=($!)
      wait "${logins[@]}" || true # (a bare wait would wait for the federation too)
    done
    # MO reports (type 3) travel back after the SPs' DELIVER_RESP.
    wait_until 30 "the MO reports back to the users' gateways" at_least 5 mo_reports_back
    touch "$DEMO/mo.done"
  else
    echo "(the MO were injected at up and delivered by an earlier run; counters since each node's start)"
  fi
  printf 'gateway\tMO from its users: kept\tforwarded\tMO FWDs in\tdelivered to Sina\tto Lottery\tMO reports back\n' >"$DEMO/mo.tsv"
  local i=0
  for r in "${REGIONS[@]}"; do
    read -r code name _ <<<"$r"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name ($code)" \
      "$(gw_metric $i ismg_mo_total 'result="local"')" "$(gw_metric $i ismg_mo_total 'result="fwd"')" \
      "$(gw_metric $i ismg_fwd_received_total 'type="mo"' 'outcome="ok"')" \
      "$(gw_metric $i ismg_sp_delivers_total 'sp="901234"' 'kind="mo"' 'result="ok"')" \
      "$(gw_metric $i ismg_sp_delivers_total 'sp="902002"' 'kind="mo"' 'result="ok"')" \
      "$(gw_metric $i ismg_fwd_mo_reports_total)" >>"$DEMO/mo.tsv"
    i=$((i + 1))
  done
  column -t -s $'\t' "$DEMO/mo.tsv"
  echo "(Tianjin's users reach Sina in Beijing, Guangxi's in Guangzhou; every region's users reach the Lottery in Guangzhou."
  echo " Beijing's SMSC spreads MO over both nodes' binds: Beijing-a took $(mo_taken 0)," \
    "Beijing-b $(mo_taken 4); a record waiting on the node where Sina is not logged in" \
    "goes to its sibling as a sibling FWD: $(gw_metric 0 ismg_sibling_handoffs_total) handed over)"
}

route_change() {
  step "Route change: segment 1380220 moves from Tianjin to Guangzhou, live"
  local gz_before tj_before out rev
  gz_before=$(gw_metric 2 ismg_smsc_submits_total 'result="ok"')
  tj_before=$(gw_metric 1 ismg_smsc_submits_total 'result="ok"')
  out=$("${GNSCTL[@]}" segment add 1380220 020001); echo "$out"
  rev=$(revision_of "$out")
  wait_until 30 "every route cache at revision $rev" caches_at "$rev" # the watch latency is milliseconds
  mt_flow "Beijing → 1380220 after the change" 1380220 200 | column -t -s $'\t'
  printf '  Guangzhou delivered %s more, Tianjin %s more\n' \
    "$(( $(gw_metric 2 ismg_smsc_submits_total 'result="ok"') - gz_before ))" \
    "$(( $(gw_metric 1 ismg_smsc_submits_total 'result="ok"') - tj_before ))"
  out=$("${GNSCTL[@]}" segment add 1380220 022001)
  wait_until 30 "every route cache back" caches_at "$(revision_of "$out")"
  echo "  (moved back to Tianjin)"
}

# sp_try GATEWAY-INDEX SECRET: one MT as SP 905001; prints "accepted" or why not.
sp_try() {
  local out
  if out=$("$BIN/spsim" -addr "127.0.0.1:$(port 5 "$1")" -sp-id 905001 -secret "$2" -src-id 10690501 \
      -dest-prefix 1380220 -n 1 -report 0 -json 2>&1); then
    echo accepted
  else
    echo "refused ($(grep -o 'status [0-9]*: .*' <<<"$out" || tail -1 <<<"$out"))"
  fi
}

gns_accounts() {
  step "SP account defined once, in the GNS: SP 905001 (Xinhua Alerts) at Tianjin, mirrored at Nanning"
  mkdir -p "$DEMO/sp" && chmod 700 "$DEMO/sp"
  printf 'xinhua-first-secret\n' >"$DEMO/sp/905001.secret"
  printf 'xinhua-rotated-secret\n' >"$DEMO/sp/905001.new-secret"
  chmod 600 "$DEMO/sp/"*
  # The secret travels to the GNS and on to the gateways' route caches only
  # over TLS or loopback: here the GNS API is on loopback (README "SP
  # accounts in the GNS"); no gateway's YAML lists the SP.
  local out rev
  out=$("${GNSCTL[@]}" sp add --id 905001 --name "Xinhua Alerts" --codes 10690501 --gateway 022001 \
    --mirrors 077101 --secret-file "$DEMO/sp/905001.secret" --allowed-ips 127.0.0.1 \
    --max-connections 2 --window 8 --submit-rate 200)
  echo "\$ gnsctl sp add --id 905001 --codes 10690501 --gateway 022001 --mirrors 077101 --secret-file F --allowed-ips 127.0.0.1 --max-connections 2 --window 8 --submit-rate 200"
  echo "$out"
  rev=$(revision_of "$out")
  "${GNSCTL[@]}" sp show 905001
  wait_until 30 "every route cache at revision $rev" caches_at "$rev"
  printf 'SP 905001 logs in at\tsent\tacked\treports\n' >"$DEMO/sp.tsv"
  sp_login 1 905001 xinhua-first-secret 10690501 1380220 20 -window 8 |
    jq -r '["Tianjin (022001, its gateway)", .submitted, .acked, .reports] | @tsv' >>"$DEMO/sp.tsv"
  sp_login 3 905001 xinhua-first-secret 10690501 1380771 20 -window 8 |
    jq -r '["Nanning (077101, its mirror)", .submitted, .acked, .reports] | @tsv' >>"$DEMO/sp.tsv"
  column -t -s $'\t' "$DEMO/sp.tsv"
  echo "\$ ismgctl --addr $(admin_of 1) sp list     # Tianjin: the account's source is the GNS"
  "${ISMGCTL[@]}" --addr "$(admin_of 1)" sp list
  echo "Tianjin's account metrics: applied $(metric "$(http_of 1)" ismg_sp_gns_accounts 'state="applied"'), skipped $(metric "$(http_of 1)" ismg_sp_gns_accounts 'state="skipped"')"

  echo
  echo "\$ gnsctl sp set 905001 --secret-file NEW   # rotate the secret: both gateways, live"
  local t0; t0=$(date +%s%N)
  out=$("${GNSCTL[@]}" sp set 905001 --secret-file "$DEMO/sp/905001.new-secret"); echo "$out"
  rev=$(revision_of "$out")
  wait_until 30 "every route cache at revision $rev" caches_at "$rev"
  printf 'gateway\told secret\tnew secret\n' >"$DEMO/sp-rotate.tsv"
  local i name old
  for i in 1 3; do
    read -r _ name _ <<<"${REGIONS[$i]}"
    # The cache has the revision; its swap follows at once. Poll (one
    # refused login at most: failed logins count toward the lockout).
    old=accepted
    local deadline=$((SECONDS + 10))
    while [ "$old" = accepted ] && [ $SECONDS -lt $deadline ]; do old=$(sp_try "$i" xinhua-first-secret); done
    printf '%s\t%s\t%s\n' "$name" "$old" "$(sp_try "$i" xinhua-rotated-secret)" >>"$DEMO/sp-rotate.tsv"
  done
  column -t -s $'\t' "$DEMO/sp-rotate.tsv"
  note "from gnsctl sp set to both gateways refusing the old secret: $(( ($(date +%s%N) - t0) / 1000000 )) ms, no restart"
}

operator_tools() {
  step "Operator tools: ismgctl against Beijing-a's admin API ($(admin_of 0), admin.token), trace, billing, consoles"
  local bj=(--addr "$(admin_of 0)")
  echo "\$ ismgctl sp list"
  "${ISMGCTL[@]}" "${bj[@]}" sp list
  echo
  echo "\$ ismgctl link stop north      # unbind Beijing-a's SMSC link; MTs wait in mt:north"
  "${ISMGCTL[@]}" "${bj[@]}" link stop north
  "${ISMGCTL[@]}" "${bj[@]}" link list
  local before; before=$(metric "$(http_of 0)" ismg_smsc_submits_total 'result="ok"')
  sp_login 0 901234 sina-secret 10657001 "$BJ_LOCAL" 100 -report 0 >/dev/null
  note "Sina submits 100 MT for Beijing numbers: acked; queued in mt:north $(metric "$(http_of 0)" ismg_queue_depth 'queue="mt:north"'), sent to the SMSC $(( $(metric "$(http_of 0)" ismg_smsc_submits_total 'result="ok"') - before ))"
  echo "\$ ismgctl link start north"
  "${ISMGCTL[@]}" "${bj[@]}" link start north
  local t0=$SECONDS
  wait_until 30 "mt:north to drain" eval '[ "$(metric "$(http_of 0)" ismg_queue_depth '"'"'queue="mt:north"'"'"')" = 0 ]'
  note "link up again: mt:north drained, $(( $(metric "$(http_of 0)" ismg_smsc_submits_total 'result="ok"') - before )) sent to the SMSC (within $(( SECONDS - t0 + 1 ))s)"
  wait_http "$(http_of 0)/healthz" 30 # /healthz is 503 while a link has no bind

  echo
  echo "\$ ismgctl --addr $(admin_of 4) drain     # Beijing-b before maintenance: new SUBMITs get Result 8"
  "${ISMGCTL[@]}" --addr "$(admin_of 4)" drain
  note "Sina submits 5 MT at Beijing-b: $(sp_login 4 901234 sina-secret 10657001 "$BJ_LOCAL" 5 -report 0 |
    jq -r '"acked \(.acked), refused \(.rejected | to_entries | map("Result \(.key) × \(.value)") | join(", "))"')"
  echo "\$ ismgctl --addr $(admin_of 4) drain --off"
  "${ISMGCTL[@]}" --addr "$(admin_of 4)" drain --off

  echo
  local id
  id=$(jq -rn 'first(inputs | select(.ev == "ack") | .msg_id)' "$DEMO/rec/mt-guangzhou.jsonl")
  echo "\$ ismgctl --http $(http_of 0 | sed 's#http://##') trace $id     # an MT of the Beijing → Guangzhou flow (spsim -record)"
  "${ISMGCTL[@]}" --http "$(http_of 0 | sed 's#http://##')" trace "$id"

  echo
  echo "\$ billing report -dir Beijing-a/cdr -dir Beijing-b/cdr -by sp     # the traffic view from Beijing's CDRs"
  wait_until 10 "the CDRs filed" eval '[ "$(metric "$(http_of 0)" ismg_queue_depth '"'"'queue="cdr"'"'"')" = 0 ]'
  "$BIN/billing" report -dir "$DEMO/Beijing/data/cdr" -dir "$DEMO/Beijing-b/data/cdr" -by sp 2>/dev/null || true

  echo
  echo "consoles (cluster, routes, peers, links, SPs, queues, stores, trace box):"
  local n label
  for n in 0 4 1 2 3; do
    case $n in 0) label=Beijing-a ;; 4) label=Beijing-b ;; *) read -r _ label _ <<<"${REGIONS[$n]}" ;; esac
    printf '  %-10s %s/\n' "$label" "$(http_of $n)"
  done
}

# smsc_released SYSTEM-ID: receipts Beijing's SMSC held for an ESME account
# with no bind up and released when one bound (its log's "bound" lines).
smsc_released() {
  jq -Rn --arg id "$1" '[inputs | fromjson? | select(.msg == "bound" and .system_id == $id) | .released_receipts // 0] | add // 0' \
    "$DEMO/logs/smscsim-Beijing.log"
}

# ha_counts RUN...: what the records of these spsim runs and Beijing's SMSC
# say, joined by client key and Msg_Id (sim/record), as JSON.
ha_counts() {
  local runs; runs=$(printf '%s\n' "$@" | jq -R . | jq -s .)
  jq -s --argjson runs "$runs" '
    def run_of: (.key // "") | split("-")[0];
    def ours: run_of as $r | $runs | index($r) != null;
    (reduce (.[] | select(.ev == "ack" and ours)) as $e ({}; .[$e.key] = $e.msg_id)) as $ack
    | (reduce (.[] | select(.ev == "acc" and ours)) as $e ({}; .[$e.key] += 1)) as $acc
    | (reduce (.[] | select(.ev == "rpt")) as $e ({}; .[$e.msg_id] += 1)) as $rpt
    | { acked: ($ack | length),
        delivered: ([$ack | keys[] | select($acc[.] != null)] | length),
        lost: ([$ack | keys[] | select($acc[.] == null)] | length),
        unacked_delivered: ([$acc | keys[] | select($ack[.] == null)] | length),
        duplicates: ([$acc[] | . - 1] | add // 0),
        reported: ([$ack[] | select($rpt[.] != null)] | length),
        report_repeats: ([$ack[] | select($rpt[.] != null) | $rpt[.] - 1] | add // 0) }' \
    "$DEMO"/rec/ha-*.jsonl "$DEMO/Beijing/smsc.jsonl"
}

region_ha() {
  step "Region HA: kill -9 of Beijing-a under load; the SP carries on at Beijing-b, which adopts a's store"
  local a_http b_http ra rb pid acked0 drained0 released0 t0 n apid fenced= rc
  a_http=$(http_of 0) b_http=$(http_of 4)
  rm -f "$DEMO"/rec/ha-*.jsonl
  drained0=$(metric "$b_http" ismg_ha_drained_total "store=\"$BJ_STORE_A\"")
  acked0=$(metric "$a_http" ismg_sp_submits_total 'sp="901234"' 'result="ok"')
  ra=$(runid) rb=$(runid)
  released0=$(smsc_released ismg001001a)
  # Sina at Beijing-a, 400 MT/s for Beijing numbers. spsim dials one
  # address: -reconnect-timeout lets it try a again for 2 s after the kill
  # (in vain); the SP then carries on at b (a second spsim run).
  "$BIN/spsim" -addr "127.0.0.1:$(port 5 0)" -sp-id 901234 -secret sina-secret -src-id 10657001 \
    -dest-prefix "$BJ_LOCAL" -n 4000 -rate 400 -conns 2 -window 16 -reconnect-timeout 2s \
    -record "$DEMO/rec/ha-a.jsonl" -run-id "$ra" -json >"$DEMO/rec/ha-a.json" 2>"$DEMO/logs/spsim-ha-a.log" &
  local sp_a=$!
  wait_until 30 "Sina's load at Beijing-a" at_least $(( acked0 + 600 )) metric "$a_http" ismg_sp_submits_total 'sp="901234"' 'result="ok"'
  pid=$(pid_of ismg-Beijing)
  n=$(( $(metric "$a_http" ismg_sp_submits_total 'sp="901234"' 'result="ok"') - acked0 ))
  kill -KILL "$pid"; t0=$(date +%s%N)
  forget ismg-Beijing
  mv "$DEMO/logs/ismg-Beijing.log" "$DEMO/logs/ismg-Beijing-killed.log"
  echo "kill -9 Beijing-a (pid $pid) with Sina's load running ($n MT acked there so far)"
  # The SP logs in at Beijing-b and carries on.
  sp_login 4 901234 sina-secret 10657001 "$BJ_LOCAL" 600 -rate 300 -conns 2 -window 16 \
    -record "$DEMO/rec/ha-b.jsonl" -run-id "$rb" >"$DEMO/rec/ha-b.json" 2>"$DEMO/logs/spsim-ha-b.log" || true
  wait "$sp_a" || true
  jq -r '"  Sina at Beijing-a (killed): sent \(.submitted), acked \(.acked), unanswered at the kill \(.errors); redialled a for 2 s in vain"' "$DEMO/rec/ha-a.json"
  jq -r '"  Sina at Beijing-b (after the kill): sent \(.submitted), acked \(.acked), reports \(.reports) (and \(.unknown_reports) for MTs acked at a: those wait in a'"'"'s store)"' "$DEMO/rec/ha-b.json"

  # b adopts a's store once a's lease lapsed (lease_ttl 3s) adopt_after (2s) ago.
  # (ismg_ha_drained_total counts messages drained from adopted stores.)
  adopted() { at_least 1 metric "$b_http" ismg_ha_adopted_stores; }
  drained_some() { at_least $((drained0 + 1)) metric "$b_http" ismg_ha_drained_total "store=\"$BJ_STORE_A\""; }
  wait_until 30 "Beijing-b to adopt Beijing-a's store" eval 'adopted || drained_some'
  note "Beijing-b adopted store $BJ_STORE_A $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"
  echo "\$ gnsctl store list"
  "${GNSCTL[@]}" store list
  echo "\$ ismgctl --addr $(admin_of 4) store list     # at Beijing-b"
  "${ISMGCTL[@]}" --addr "$(admin_of 4)" store list

  # a comes back now: while b holds its store, it must refuse to start.
  echo
  echo "Beijing-a starts again while Beijing-b holds its store:"
  start ismg-Beijing-restart "$BIN/ismg" -config "$DEMO/Beijing/ismg.yaml"
  apid=$(pid_of ismg-Beijing-restart)
  a_state() { # fenced (exited), up (healthy) or nothing yet
    if ! kill -0 "$apid" 2>/dev/null; then echo fenced; elif curl -fsS "$a_http/healthz" >/dev/null 2>&1; then echo up; fi
  }
  wait_until 30 "Beijing-a to refuse or start" eval '[ -n "$(a_state)" ]'
  if [ "$(a_state)" = fenced ]; then
    fenced=1
    wait "$apid" 2>/dev/null && rc=0 || rc=$?
    forget ismg-Beijing-restart
    note "FENCED: it refused to start (exit $rc), without opening its store:"
    note "$(grep -o 'ismg: ha: refusing to start.*' "$DEMO/logs/ismg-Beijing-restart.log" || echo '(no reason logged)')"
  else
    note "Beijing-b had drained and released the store already: Beijing-a took its store back and runs"
    sed -i "s/ ismg-Beijing-restart\$/ ismg-Beijing/" "$PIDFILE"
  fi

  # The adopted store's reports wait for Sina at Beijing-b: it logs in
  # again (short runs) until the store is drained and released.
  local deadline=$((SECONDS + 60)) k=0
  until drained_some && ! adopted; do
    [ $SECONDS -lt $deadline ] || { echo "demo: Beijing-b did not drain Beijing-a's store" >&2; return 1; }
    k=$((k + 1))
    sp_login 4 901234 sina-secret 10657001 "$BJ_LOCAL" 10 -rate 20 -report-timeout 5s -record "$DEMO/rec/ha-c$k.jsonl" \
      >/dev/null 2>>"$DEMO/logs/spsim-ha-c.log" || true
  done
  note "Beijing-b drained Beijing-a's store and released it: it sent what a had queued or in flight with a's" \
    "SMSC account ismg001001a, collected the receipts the SMSC held for that account" \
    "($(( $(smsc_released ismg001001a) - released0 )) released to its bind), and delivered a's reports to Sina at b"
  local c; c=$(ha_counts "$ra" "$rb")
  printf 'Sina across the kill (spsim and smscsim records, joined by client key and Msg_Id):\n'
  jq -r '"  acked \(.acked)   delivered at the SMSC \(.delivered)   lost \(.lost)   reports received \(.reported) of \(.acked) (repeated \(.report_repeats))\n  duplicates at the SMSC \(.duplicates)   delivered but never acked (SUBMIT_RESP lost in the kill) \(.unacked_delivered)"' <<<"$c"
  note "counted by Beijing-b (/metrics): MTs resent from a's store $(metric "$b_http" ismg_ha_adopted_resends_total "store=\"$BJ_STORE_A\"") (bound: binds × window = 64), reports sent again $(metric "$b_http" ismg_ha_adopted_report_repeats_total "store=\"$BJ_STORE_A\""), messages drained $(( $(metric "$b_http" ismg_ha_drained_total "store=\"$BJ_STORE_A\"") - drained0 )), stores adopted now $(metric "$b_http" ismg_ha_adopted_stores)"

  if [ -n "$fenced" ]; then
    echo
    echo "Beijing-a starts again, now that its store is released:"
    start ismg-Beijing "$BIN/ismg" -config "$DEMO/Beijing/ismg.yaml"
    wait_http "$a_http/healthz" 30
    note "Beijing-a took its store back (lease held: $(metric "$a_http" ismg_ha_store_lease_held "store=\"$BJ_STORE_A\""))"
  fi
  wait_until 30 "Beijing-a and Beijing-b to be siblings again" eval \
    'at_least 1 metric "$a_http" ismg_siblings_live && at_least 1 metric "$b_http" ismg_siblings_live'
  echo "\$ gnsctl store list"
  "${GNSCTL[@]}" store list
}

case "${1:-all}" in
  up) trap 'down' ERR; up ;;
  flows) flows ;;
  down) down ;;
  all)
    trap 'down' EXIT INT TERM
    up
    flows
    step "Stopping everything. Logs are in .demo/logs"
    ;;
  *) echo "usage: $0 [up|flows|down]" >&2; exit 2 ;;
esac
