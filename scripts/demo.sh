#!/usr/bin/env bash
# make demo: everything Tandem does today, end to end on loopback.
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
# CMPP_FWD with each other. Logs and data stay in .demo/.
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
# Ports of region i (0..3): SMSC 174i1, CMPP 175i1, HTTP 176i1, FWD 179i1.
port() { echo "17${1}${2}1"; } # kind-digit region-index
GNS_GRPC=127.0.0.1:17101,127.0.0.1:17102,127.0.0.1:17103
GNSCTL=("$BIN/gnsctl" -addr "$GNS_GRPC")

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_http() { # URL [seconds]: wait until it answers 200
  local n=$(( ${2:-20} * 10 ))
  for _ in $(seq 1 "$n"); do
    if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $1:" >&2; curl -sS "$1" >&2 || true; return 1
}
start() { # name command...: start in the background, log to .demo/logs/name.log
  local name=$1; shift
  "$@" >"$DEMO/logs/$name.log" 2>&1 &
  echo "$! $name" >>"$PIDFILE"
}
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
# metric URL NAME [label-filter...]: the sum of a Prometheus series.
metric() {
  local url=$1 name=$2; shift 2
  curl -fsS "$url/metrics" 2>/dev/null | awk -v n="$name" -v f="$*" '
    BEGIN { k = split(f, want, " ") }
    $1 ~ "^"n"({|$)" { ok = 1; for (i = 1; i <= k; i++) if (index($1, want[i]) == 0) ok = 0; if (ok) s += $NF }
    END { printf "%d\n", s }'
}
http_of() { echo "http://127.0.0.1:$(port 6 "$1")"; }

up() {
  [ -f "$PIDFILE" ] && { echo "already up (make down first)" >&2; exit 1; }
  rm -rf "$DEMO"; mkdir -p "$DEMO/logs" "$DEMO/certs" "$DEMO/routes"
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

  step "Four regional ISMGs, each with its SMSC simulator"
  i=0
  for r in "${REGIONS[@]}"; do
    read -r code name region link <<<"$r"
    mkdir -p "$DEMO/$name"
    start "smscsim-$name" "$BIN/smscsim" -listen "127.0.0.1:$(port 4 $i)" -delay 20ms -stats 0 \
      -mo-file "$DEMO/$name/mo.txt"
    sed -e "s#@CODE@#$code#g" -e "s#@NAME@#$name#" -e "s#@REGION@#$region#" -e "s#@LINK@#$link#" \
        -e "s#@DATA@#$DEMO/$name/data#" -e "s#@CMPP@#127.0.0.1:$(port 5 $i)#" \
        -e "s#@HTTP@#127.0.0.1:$(port 6 $i)#" -e "s#@FWD@#127.0.0.1:$(port 9 $i)#" \
        -e "s#@SMSC@#127.0.0.1:$(port 4 $i)#" -e "s#@GNS@#${GNS_GRPC//,/, }#" \
        testdata/ismg/region.yaml.in >"$DEMO/$name/ismg.yaml"
    start "ismg-$name" "$BIN/ismg" -config "$DEMO/$name/ismg.yaml"
    i=$((i + 1))
  done
  i=0
  for r in "${REGIONS[@]}"; do
    read -r code name _ <<<"$r"
    wait_http "$(http_of $i)/healthz" 30
    printf '%-10s %s  SPs 127.0.0.1:%s  FWD 127.0.0.1:%s  metrics %s/metrics\n' \
      "$name" "$code" "$(port 5 $i)" "$(port 9 $i)" "$(http_of $i)"
    i=$((i + 1))
  done
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

# mt_flow LABEL DEST-PREFIX N: Sina at Beijing sends N MT and waits for
# every report; prints a row of the flow table.
mt_flow() {
  local label=$1 prefix=$2 n=$3 out
  out=$("$BIN/spsim" -addr "127.0.0.1:$(port 5 0)" -sp-id 901234 -secret sina-secret -src-id 10657001 \
    -dest-prefix "$prefix" -n "$n" -conns 2 -window 16 -wait-reports -report-timeout 60s -json)
  jq -r --arg l "$label" '[$l, .sent, .acked, .reports,
      (.submit_latency.p50_ns/1e6*100|round/100), (.submit_latency.p99_ns/1e6*100|round/100),
      (.report_latency.p50_ns/1e6*100|round/100), (.report_latency.p99_ns/1e6*100|round/100)] | @tsv' <<<"$out"
}

flows() {
  command -v jq >/dev/null || { echo "demo: needs jq" >&2; exit 2; }
  local bj; bj=$(http_of 0)
  step "MT: Sina submits at Beijing for a number of every region (500 each, every report awaited)"
  printf 'flow\tsent\tacked\treports\tresp-p50-ms\tresp-p99-ms\treport-p50-ms\treport-p99-ms\n' >"$DEMO/mt.tsv"
  mt_flow "Beijing → Beijing (local)"          1380010 500 >>"$DEMO/mt.tsv"
  mt_flow "Beijing → Tianjin → Beijing"        1380220 500 >>"$DEMO/mt.tsv"
  mt_flow "Beijing → Guangzhou → Beijing"      1380200 500 >>"$DEMO/mt.tsv"
  mt_flow "Beijing → Nanning → Beijing"        1380771 500 >>"$DEMO/mt.tsv"
  column -t -s $'\t' "$DEMO/mt.tsv"
  echo
  echo "delivered by each region's SMSC link, and the FWDs that carried them:"
  local i=0
  for r in "${REGIONS[@]}"; do
    read -r code name _ <<<"$r"
    local h; h=$(http_of $i)
    printf '  %-10s submit_sm ok %5s   MT FWDs sent %4s  received %4s   reports sent back %4s\n' "$name" \
      "$(metric "$h" ismg_smsc_submits_total 'result="ok"')" \
      "$(metric "$h" ismg_fwd_sent_total 'type="mt"' 'result="ok"')" \
      "$(metric "$h" ismg_fwd_received_total 'type="mt"' 'outcome="ok"')" \
      "$(metric "$h" ismg_fwd_sent_total 'type="mt_report"' 'result="ok"')"
    i=$((i + 1))
  done

  step "MO: every region's users text Sina (partitions: north Beijing, south Guangzhou) and Guangzhou Lottery"
  # The SPs log in (a short MT run each), and the MO waiting for them comes
  # (Sina at Beijing is logged in from the MT runs above).
  "$BIN/spsim" -addr "127.0.0.1:$(port 5 2)" -sp-id 901234 -secret sina-secret -src-id 10657001 \
    -dest-prefix 1380200 -n 10 -wait-reports -json >/dev/null
  "$BIN/spsim" -addr "127.0.0.1:$(port 5 2)" -sp-id 902002 -secret lottery-secret -src-id 10662020 \
    -dest-prefix 1380200 -n 10 -wait-reports -json >/dev/null
  sleep 1 # MO reports (type 3) travel back after the SPs' DELIVER_RESP
  printf 'gateway\tMO from its users: kept\tforwarded\tMO FWDs in\tdelivered to Sina\tto Lottery\tMO reports back\n' >"$DEMO/mo.tsv"
  i=0
  for r in "${REGIONS[@]}"; do
    read -r code name _ <<<"$r"
    local h; h=$(http_of $i)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name ($code)" \
      "$(metric "$h" ismg_mo_total 'result="local"')" "$(metric "$h" ismg_mo_total 'result="fwd"')" \
      "$(metric "$h" ismg_fwd_received_total 'type="mo"' 'outcome="ok"')" \
      "$(metric "$h" ismg_sp_delivers_total 'sp="901234"' 'kind="mo"' 'result="ok"')" \
      "$(metric "$h" ismg_sp_delivers_total 'sp="902002"' 'kind="mo"' 'result="ok"')" \
      "$(metric "$h" ismg_fwd_mo_reports_total)" >>"$DEMO/mo.tsv"
    i=$((i + 1))
  done
  column -t -s $'\t' "$DEMO/mo.tsv"
  echo "(Tianjin's users reach Sina in Beijing, Guangxi's in Guangzhou; every region's users reach the Lottery in Guangzhou)"

  step "Route change: segment 1380220 moves from Tianjin to Guangzhou, live"
  local gz_before tj_before
  gz_before=$(metric "$(http_of 2)" ismg_smsc_submits_total 'result="ok"')
  tj_before=$(metric "$(http_of 1)" ismg_smsc_submits_total 'result="ok"')
  "${GNSCTL[@]}" segment add 1380220 020001
  sleep 1 # the watch latency is milliseconds; a second leaves room on a loaded machine
  mt_flow "Beijing → 1380220 after the change" 1380220 200 | column -t -s $'\t'
  printf '  Guangzhou delivered %s more, Tianjin %s more\n' \
    "$(( $(metric "$(http_of 2)" ismg_smsc_submits_total 'result="ok"') - gz_before ))" \
    "$(( $(metric "$(http_of 1)" ismg_smsc_submits_total 'result="ok"') - tj_before ))"
  "${GNSCTL[@]}" segment add 1380220 022001 >/dev/null
  echo "  (moved back to Tianjin)"

  step "Billing at Beijing: the settlement with each peer gateway"
  "$BIN/billing" report -dir "$DEMO/Beijing/data/cdr" -by peer 2>/dev/null || true
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
