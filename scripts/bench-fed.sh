#!/usr/bin/env bash
# bench-fed.sh: the federation's end-to-end figure beside the local one, in
# the same invocation. Two ISMGs (Beijing 001001, Guangzhou 020001) as real
# processes on loopback, each with its smscsim, fsync on everywhere, routes
# from the sample table. Then RUNS times, alternately:
#
#   local  spsim → Beijing → smscsim north → receipt → spsim
#   cross  spsim → Beijing → CMPP_FWD → Guangzhou → smscsim south → receipt
#          → type 2 FWD → Beijing → spsim
#
# every report awaited, and prints per run and as medians: MT/s, SUBMIT →
# SUBMIT_RESP and SUBMIT → report percentiles, the cross/local ratio, and
# the CPU per MT of each gateway and of the two smscsims together (MT/s
# counts a message once its report is in).
#
# Knobs (environment): RUNS=3 N=20000 WARMUP=2000 CONNS=4 WINDOW=16
# DELAY=20ms (receipt delay) SIM_PROCS=1 (GOMAXPROCS of the simulators)
# RATE=0 (SUBMITs per second offered, open loop; 0: as fast as the windows
# allow, which queues behind the slower leg and so measures throughput,
# not latency) PROFILE=1 (5 s CPU profiles of both gateways during run 1
# of each flow, kept in the work directory).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
N=${N:-20000}
WARMUP=${WARMUP:-2000}
CONNS=${CONNS:-4}
WINDOW=${WINDOW:-16}
DELAY=${DELAY:-20ms}
SIM_PROCS=${SIM_PROCS:-1}
RATE=${RATE:-0}
command -v jq >/dev/null || { echo "bench-fed: needs jq" >&2; exit 2; }

make build >/dev/null
BIN=$PWD/bin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tandem-fed.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then echo "bench-fed: logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() {
  for _ in $(seq 1 300); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench-fed: $1 never answered" >&2; return 1
}

declare -A PORT
for g in bj gz; do for k in smsc cmpp http fwd pprof; do PORT[$g.$k]=$(free_port); done; done
mkdir -p "$WORK/routes"
sed -e "/code: \"001001\"/,/fwd_addr/s#fwd_addr: .*#fwd_addr: 127.0.0.1:${PORT[bj.fwd]}#" \
    -e "/code: \"020001\"/,/fwd_addr/s#fwd_addr: .*#fwd_addr: 127.0.0.1:${PORT[gz.fwd]}#" \
    testdata/routes/sample.yaml >"$WORK/routes/routes.yaml"
cp testdata/routes/segments.csv "$WORK/routes/"

gateway() { # g code name region link
  local g=$1
  GOMAXPROCS=$SIM_PROCS "$BIN/smscsim" -listen "127.0.0.1:${PORT[$g.smsc]}" -delay "$DELAY" -window 256 \
    -stats 0 -log-level warn >"$WORK/smscsim-$g.log" 2>&1 &
  PIDS+=($!); eval "SMSC_PID_$g=$!"
  mkdir -p "$WORK/$g"
  sed -e "s#@CODE@#$2#g" -e "s#@NAME@#$3#" -e "s#@REGION@#$4#" -e "s#@LINK@#$5#" \
      -e "s#@DATA@#$WORK/$g/data#" -e "s#@CMPP@#127.0.0.1:${PORT[$g.cmpp]}#" \
      -e "s#@HTTP@#127.0.0.1:${PORT[$g.http]}#" -e "s#@FWD@#127.0.0.1:${PORT[$g.fwd]}#" \
      -e "s#@SMSC@#127.0.0.1:${PORT[$g.smsc]}#" \
      -e "s#^  gns: .*#  file: $WORK/routes/routes.yaml#" \
      -e "s#^  fwd: .*#&\n  pprof: 127.0.0.1:${PORT[$g.pprof]}#" \
      -e "s#max_connections: 8#max_connections: $((CONNS + 1))#" -e "s#submit_rate: 50000#submit_rate: 0#" \
      -e "s#burst: 5000#burst: 1000000#" -e "s#    window: 32#    window: 256#" \
      testdata/ismg/region.yaml.in >"$WORK/$g/ismg.yaml"
  "$BIN/ismg" -config "$WORK/$g/ismg.yaml" -log-level warn >"$WORK/ismg-$g.log" 2>&1 &
  PIDS+=($!); eval "ISMG_PID_$g=$!"
}
gateway bj 001001 Beijing beijing north
gateway gz 020001 Guangzhou guangdong south
wait_http "http://127.0.0.1:${PORT[bj.http]}/healthz"
wait_http "http://127.0.0.1:${PORT[gz.http]}/healthz"

SP=(-addr "127.0.0.1:${PORT[bj.cmpp]}" -sp-id 901234 -secret sina-secret -src-id 10657001 -version 3.0
    -coding ascii -text "Tandem federation benchmark" -conns "$CONNS" -window "$WINDOW" -rate "$RATE"
    -wait-reports -report-timeout 120s -json)
run_spsim() { # out-file prefix n
  GOMAXPROCS=$SIM_PROCS "$BIN/spsim" "${SP[@]}" -dest-prefix "$2" -n "$3" >"$1" 2>"$1.err" ||
    { echo "bench-fed: spsim failed:" >&2; cat "$1.err" "$1" >&2; return 1; }
  local bad; bad=$(jq '(.rejected | add // 0) + .errors + .no_report' "$1")
  [ "$bad" = 0 ] || { echo "bench-fed: $bad SUBMITs refused, unanswered or unreported:" >&2; cat "$1" >&2; return 1; }
}
tx_of() { curl -fsS "http://127.0.0.1:${PORT[$1.http]}/metrics" | awk '$1 == "ismg_store_transactions_total" { printf "%d", $2 }'; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat"; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e6 }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "setup: $CONNS SP connections x window $WINDOW at Beijing, offered $( [ "$RATE" = 0 ] && echo "as fast as the windows allow" || echo "$RATE SUBMIT/s"), every report awaited, receipt delay $DELAY, fsync on, FWD window 16, simulators GOMAXPROCS=$SIM_PROCS"
run_spsim "$WORK/warm-local.json" 1380010 "$WARMUP"
run_spsim "$WORK/warm-cross.json" 1380200 "$WARMUP"

FMT='%-7s %-6s %8s %12s %12s %14s %14s %10s %10s %11s %9s %9s\n'
printf "$FMT" flow run MT/s resp-p50-ms resp-p99-ms report-p50-ms report-p99-ms bj-µs/MT gz-µs/MT smscs-µs/MT bj-tx/MT gz-tx/MT
declare -A T R99 P99 P50 Q50
for i in $(seq 1 "$RUNS"); do
  for flow in local cross; do
    prefix=1380010; [ "$flow" = cross ] && prefix=1380200
    b0=$(cpu_s "$ISMG_PID_bj"); g0=$(cpu_s "$ISMG_PID_gz"); bt0=$(tx_of bj); gt0=$(tx_of gz)
    s0=$(awk -v a="$(cpu_s "$SMSC_PID_bj")" -v b="$(cpu_s "$SMSC_PID_gz")" 'BEGIN { print a + b }')
    t0=$(date +%s.%N)
    out="$WORK/$flow-$i.json"
    profs=()
    if [ "$i" = 1 ] && [ "${PROFILE:-0}" = 1 ]; then
      KEEP=1
      for g in bj gz; do
        curl -fsS -o "$WORK/$flow-$g.cpu.pprof" "http://127.0.0.1:${PORT[$g.pprof]}/debug/pprof/profile?seconds=5" & profs+=($!)
      done
    fi
    run_spsim "$out" "$prefix" "$N"
    for p in "${profs[@]:-}"; do [ -n "$p" ] && wait "$p"; done
    per() { awk -v a="$1" -v b="$2" -v n="$N" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }'; }
    bj_us=$(per "$b0" "$(cpu_s "$ISMG_PID_bj")"); gz_us=$(per "$g0" "$(cpu_s "$ISMG_PID_gz")")
    txper() { awk -v a="$1" -v b="$2" -v n="$N" 'BEGIN { printf "%.2f", (b - a) / n }'; }
    bj_tx=$(txper "$bt0" "$(tx_of bj)"); gz_tx=$(txper "$gt0" "$(tx_of gz)")
    sm_us=$(per "$s0" "$(awk -v a="$(cpu_s "$SMSC_PID_bj")" -v b="$(cpu_s "$SMSC_PID_gz")" 'BEGIN { print a + b }')")
    tput=$(jq '.messages / .duration_ns * 1e9 | floor' "$out")
    T[$flow]+="$tput "; P50[$flow]+="$(ms "$(jq .submit_latency.p50_ns "$out")") "
    P99[$flow]+="$(ms "$(jq .submit_latency.p99_ns "$out")") "; Q50[$flow]+="$(ms "$(jq .report_latency.p50_ns "$out")") "
    R99[$flow]+="$(ms "$(jq .report_latency.p99_ns "$out")") "
    printf "$FMT" "$flow" "$i" "$tput" "$(ms "$(jq .submit_latency.p50_ns "$out")")" "$(ms "$(jq .submit_latency.p99_ns "$out")")" \
      "$(ms "$(jq .report_latency.p50_ns "$out")")" "$(ms "$(jq .report_latency.p99_ns "$out")")" "$bj_us" "$gz_us" "$sm_us" "$bj_tx" "$gz_tx"
  done
done
for flow in local cross; do
  # shellcheck disable=SC2086
  printf "$FMT" "$flow" median "$(median ${T[$flow]})" "$(median ${P50[$flow]})" "$(median ${P99[$flow]})" \
    "$(median ${Q50[$flow]})" "$(median ${R99[$flow]})" "" "" "" "" ""
done
# shellcheck disable=SC2086
echo "cross / local throughput: $(awk -v c="$(median ${T[cross]})" -v l="$(median ${T[local]})" 'BEGIN { printf "%.2f", c / l }')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
