#!/usr/bin/env bash
# make demo: everything Tandem does today, end to end on loopback.
# Starts a 3-node GNS cluster, pushes the sample route table with gnsctl and
# shows the documents' route resolutions, then starts an ISMG (Beijing) with
# its SMSC simulator and runs SP traffic through it: plain ASCII, GBK, UCS2
# and a long message. Prints a summary and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
DEMO=$PWD/.demo
rm -rf "$DEMO"; mkdir -p "$DEMO/logs"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_http() { # wait until URL answers 200, up to 20 s
  for _ in $(seq 1 200); do
    if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2; return 1
}

step "GNS: three Raft nodes on loopback"
"$BIN/gns" -id gns1 -data "$DEMO/gns1" -raft 127.0.0.1:17001 -grpc 127.0.0.1:17101 -cmpp 127.0.0.1:17201 -http 127.0.0.1:17301 -bootstrap >"$DEMO/logs/gns1.log" 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:17301/healthz
for i in 2 3; do
  "$BIN/gns" -id gns$i -data "$DEMO/gns$i" -raft 127.0.0.1:1700$i -grpc 127.0.0.1:1710$i -cmpp 127.0.0.1:1720$i -http 127.0.0.1:1730$i -join 127.0.0.1:17101 >"$DEMO/logs/gns$i.log" 2>&1 & PIDS+=($!)
done
for i in 2 3; do wait_http http://127.0.0.1:1730$i/healthz; done
GNSCTL=("$BIN/gnsctl" -addr 127.0.0.1:17101,127.0.0.1:17102,127.0.0.1:17103)
"${GNSCTL[@]}" cluster status

step "Push the sample route table (testdata/routes/sample.yaml)"
"${GNSCTL[@]}" table push testdata/routes/sample.yaml

step "Route resolutions (the documents' example)"
echo "MO to Sina's code 10657001 from Tianjin (022001):"
"${GNSCTL[@]}" route mo 10657001 --gateway 022001
echo "MO to Sina's code 10657001 from Guangxi (077101):"
"${GNSCTL[@]}" route mo 10657001 --gateway 077101
echo "MT to a Beijing number:"
"${GNSCTL[@]}" route mt 13800100001

step "ISMG Beijing (001001) with its SMSC simulator"
"$BIN/smscsim" -listen 127.0.0.1:17401 -delay 20ms -mix DELIVRD=97,UNDELIV=3 -mo-file testdata/ismg/demo-mo.txt >"$DEMO/logs/smscsim.log" 2>&1 & PIDS+=($!)
mkdir -p "$DEMO/ismg"
sed -e "s#@DATA@#$DEMO/ismg/data#" -e "s#@ROUTES@#$PWD/testdata/routes/sample.yaml#" \
    -e "s#@SMSC@#127.0.0.1:17401#" -e "s#@CMPP@#127.0.0.1:17501#" -e "s#@HTTP@#127.0.0.1:17502#" \
    testdata/ismg/demo.yaml.in >"$DEMO/ismg/ismg.yaml"
"$BIN/ismg" -config "$DEMO/ismg/ismg.yaml" >"$DEMO/logs/ismg.log" 2>&1 & PIDS+=($!)
wait_http http://127.0.0.1:17502/healthz

SP=(-addr 127.0.0.1:17501 -sp-id 901234 -secret sina-secret -src-id 10657001 -dest-prefix 1390010 -wait-reports)
step "SP traffic: CMPP 3.0, plain ASCII, 0.10 CNY per message (also receives the MO waiting for Sina)"
"$BIN/spsim" "${SP[@]}" -version 3.0 -n 2000 -conns 2 -coding ascii -fee-type 02 -fee-code 000010 -text "Hello from Sina"
step "SP traffic: CMPP 2.0, GBK (Msg_Fmt 15)"
"$BIN/spsim" "${SP[@]}" -version 2.0 -n 500 -coding gbk -text "新浪新闻：北京今天晴"
step "SP traffic: CMPP 3.0, UCS2"
"$BIN/spsim" "${SP[@]}" -version 3.0 -n 500 -coding ucs2 -text "新浪天气 ☀ 广州 28°C"
step "SP traffic: CMPP 3.0, long UCS2 message (segments with UDH, one report per segment)"
"$BIN/spsim" "${SP[@]}" -version 3.0 -n 100 -coding ucs2 -long

step "CMPP_QUERY: Sina's counters for today, all services and one Service_Id"
"$BIN/spsim" -addr 127.0.0.1:17501 -sp-id 901234 -secret sina-secret -query today
"$BIN/spsim" -addr 127.0.0.1:17501 -sp-id 901234 -secret sina-secret -query today -query-service SPSIM

step "Billing: CDRs written by the ISMG"
kill -TERM "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
"$BIN/billing" report -dir "$DEMO/ismg/data/cdr" -by sp

step "Done. Logs are in .demo/logs"
