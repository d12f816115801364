#!/usr/bin/env bash
# End-to-end MT benchmark: bin/spsim -> bin/ismg -> bin/smscsim as real
# processes on loopback, durability on (every SUBMIT_RESP follows the
# queue's fsync and the CDR fsync). It builds bin/, starts smscsim and ismg
# on free ports with a temporary data dir (config from
# testdata/ismg/demo.yaml.in with the SP's rate cap lifted), warms up, then
# runs spsim RUNS times with -wait-reports -json and prints, per run and as
# medians: MT/s (acked SUBMITs per second of sending), done/s (messages per
# second until the last status report arrived), submit->resp p50/p99 and
# submit->report p50/p99 as spsim saw them, the bucket of the ismg's own
# SUBMIT->SUBMIT_RESP histogram holding its 99th percentile (node-p99: from
# reading the SUBMIT to queueing its answer) and, with RATE, how late spsim
# sent at p99 (lag-p99: a client that does not keep up measures itself
# too). Exits non-zero if any run fails, refuses a SUBMIT or misses a
# status report.
#
# Knobs (environment): RUNS=3 N=100000 CONNS=4 WINDOW=16 (CMPP's W=16) WARMUP=10000
# DELAY=20ms (smscsim receipt delay) BINDS=4 SMSC_WINDOW=256 SP_WINDOW=256
# KEEP=1 (keep the temp dir and logs) GOGC (passed through to the
# processes if set) SIM_PROCS=1 (GOMAXPROCS of spsim and smscsim: on a
# 2-core machine the load generators leave the node under test a core's
# worth, as they would on their own machines) PROFILE=1 (save a 10 s CPU profile of the ismg process
# during run 1 as $WORK/ismg.cpu.pprof and the allocation profile and
# metrics after it as $WORK/ismg.allocs.pprof and $WORK/ismg.metrics;
# profile spsim's run 1 and smscsim's whole life as $WORK/spsim.cpu.pprof
# and $WORK/smscsim.cpu.pprof, and keep $WORK). RATE=0 (SUBMITs per second
# over all connections; 0: as fast as the windows allow). COMMIT_INTERVAL=2ms
# (the node's runtime.commit_interval). REPORTS=1 (0: the SPs ask for no
# status report, Registered_Delivery 0: durable MT alone; done/s is then
# acked MT/s and the report columns are empty). RESP_DELAY=0 (smscsim's
# answer time: each submit_sm_resp that long after its submit_sm).
#
# Columns sub/s and busy/bind come from the node's metrics, sampled every
# 50 ms during each run: submit_sm answered OK per second between the
# first and the last sample that saw one more, and the average number of
# submit_sm outstanding per bind over that span
# (ismg_smsc_window_busy_seconds_total).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
N=${N:-100000}
CONNS=${CONNS:-4}
WINDOW=${WINDOW:-16}
WARMUP=${WARMUP:-10000}
DELAY=${DELAY:-20ms}
BINDS=${BINDS:-4}
SMSC_WINDOW=${SMSC_WINDOW:-256}
SP_WINDOW=${SP_WINDOW:-256}
SIM_PROCS=${SIM_PROCS:-1}
RATE=${RATE:-0}
COMMIT_INTERVAL=${COMMIT_INTERVAL:-2ms}
REPORTS=${REPORTS:-1}
RESP_DELAY=${RESP_DELAY:-0}

command -v jq >/dev/null || { echo "bench-e2e: needs jq" >&2; exit 2; }

make build >/dev/null
BIN=$PWD/bin
ISMG=${ISMG:-$BIN/ismg}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tandem-e2e.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
    echo "bench-e2e: logs and data kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port asks the kernel for an unused loopback port.
free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

wait_up() { # name pid url-or-port
  for _ in $(seq 1 300); do
    if ! kill -0 "$2" 2>/dev/null; then echo "bench-e2e: $1 exited; log:" >&2; cat "$WORK/$1.log" >&2; return 1; fi
    case $3 in
      http*) curl -fsS "$3" >/dev/null 2>&1 && return 0 ;;
      *) (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null && return 0 ;;
    esac
    sleep 0.1
  done
  echo "bench-e2e: $1 did not come up" >&2; return 1
}

SMSC_PORT=$(free_port)
CMPP_PORT=$(free_port)
HTTP_PORT=$(free_port)
PPROF_PORT=$(free_port)

SMSC_PROF=()
[ "${PROFILE:-0}" = 1 ] && SMSC_PROF=(-cpuprofile "$WORK/smscsim.cpu.pprof")
GOMAXPROCS=$SIM_PROCS "$BIN/smscsim" -listen "127.0.0.1:$SMSC_PORT" -delay "$DELAY" -window "$SMSC_WINDOW" \
  -resp-delay "$RESP_DELAY" -stats 0 -log-level warn "${SMSC_PROF[@]}" >"$WORK/smscsim.log" 2>&1 &
PIDS+=($!)
SMSC_PID=${PIDS[-1]}
wait_up smscsim "${PIDS[-1]}" "$SMSC_PORT"

mkdir -p "$WORK/ismg"
# The demo node, with the SP's token bucket lifted and windows sized for
# the load: the benchmark measures the node, not its configured limits.
sed -e "s#@DATA@#$WORK/ismg/data#" -e "s#@ROUTES@#$PWD/testdata/routes/sample.yaml#" \
    -e "s#@SMSC@#127.0.0.1:$SMSC_PORT#" -e "s#@CMPP@#127.0.0.1:$CMPP_PORT#" \
    -e "s#@HTTP@#127.0.0.1:$HTTP_PORT#" -e "s#^  http: .*#&\n  pprof: 127.0.0.1:$PPROF_PORT#" \
    -e "s#submit_rate: .*#submit_rate: 0#" -e "s#burst: .*#burst: 1000000#" \
    -e "/^sps:/,/^smsc:/s#window: .*#window: $SP_WINDOW#" \
    -e "/^smsc:/,\$s#window: .*#window: $SMSC_WINDOW#" -e "s#binds: .*#binds: $BINDS#" \
    -e "s#max_connections: .*#max_connections: $((CONNS + 1))#" \
    -e "s#commit_interval: .*#commit_interval: $COMMIT_INTERVAL#" \
    testdata/ismg/demo.yaml.in >"$WORK/ismg/ismg.yaml"
"$ISMG" -config "$WORK/ismg/ismg.yaml" -log-level warn >"$WORK/ismg.log" 2>&1 &
PIDS+=($!)
ISMG_PID=${PIDS[-1]}
wait_up ismg "$ISMG_PID" "http://127.0.0.1:$HTTP_PORT/healthz"

SP=(-addr "127.0.0.1:$CMPP_PORT" -sp-id 901234 -secret sina-secret -src-id 10657001
    -dest-prefix 1390010 -version 3.0 -coding ascii -text "Tandem e2e benchmark message"
    -conns "$CONNS" -window "$WINDOW" -rate "$RATE" -json)
if [ "$REPORTS" = 1 ]; then SP+=(-wait-reports -report-timeout 120s); else SP+=(-report 0); fi

run_spsim() { # out-file n [extra flags]
  if ! GOMAXPROCS=$SIM_PROCS "$BIN/spsim" "${SP[@]}" -n "$2" "${@:3}" >"$1" 2>"$1.err"; then
    echo "bench-e2e: spsim failed:" >&2; cat "$1.err" "$1" >&2; return 1
  fi
  local bad
  bad=$(jq '(.rejected | add // 0) + .errors + .no_report' "$1")
  if [ "$bad" != 0 ]; then
    echo "bench-e2e: $bad SUBMITs refused, unanswered or without report:" >&2; cat "$1" >&2; return 1
  fi
}

machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3)"
echo "machine: $machine"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "setup: $CONNS SP connections x window $WINDOW, offered $( [ "$RATE" = 0 ] && echo "as fast as the windows allow" || echo "$RATE SUBMIT/s"), $( [ "$REPORTS" = 1 ] && echo "a status report each" || echo "no status reports"), ismg $BINDS binds x window $SMSC_WINDOW, SMSC answer time $RESP_DELAY, receipt delay $DELAY, fsync on, simulators GOMAXPROCS=$SIM_PROCS${GOGC:+, GOGC=$GOGC}"
[ "$WARMUP" -gt 0 ] && run_spsim "$WORK/warmup.json" "$WARMUP"

ms() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e6 }'; }
declare -a TPUT DONE SUBS BUSY SP50 SP99 RP50 RP99 NP99 LAG99
# CPU seconds (user+sys) a process used so far, from /proc/<pid>/stat.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat"; }
# CPU seconds of this shell's waited-for children (the spsim runs, jq):
# `times` runs in this shell, not in a $(...) subshell that has none.
child_cpu_s() { times >"$WORK/times"; awk 'NR == 2 { gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' "$WORK/times"; }
# read+write system calls of a process so far, from /proc/<pid>/io.
sys_rw() { awk '/^sysc[rw]:/ { n += $2 } END { print n }' "/proc/$1/io"; }
ISMG_CPU0=$(cpu_s "$ISMG_PID"); SMSC_CPU0=$(cpu_s "$SMSC_PID")
ISMG_RW0=$(sys_rw "$ISMG_PID"); SMSC_RW0=$(sys_rw "$SMSC_PID")
# store_counts prints the store's "transactions page-writes" so far.
store_counts() {
  curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" |
    awk '/^ismg_store_transactions_total / { t = $2 } /^ismg_store_page_writes_total / { p = $2 } END { print t + 0, p + 0 }'
}
STORE0=$(store_counts)
child_cpu_s >"$WORK/cpu0"; SP_CPU0=$(cat "$WORK/cpu0")
# submit_hist prints the ismg's own SUBMIT->SUBMIT_RESP histogram
# (ismg_submit_resp_seconds, from the SUBMIT read to its answer queued):
# "le count" lines, cumulative, +Inf last.
submit_hist() {
  curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" |
    awk -F'[{}" ]+' '/^ismg_submit_resp_seconds_bucket/ { for (i = 1; i < NF; i++) if ($i == "le=") print $(i + 1), $NF }'
}
# node_p99 prints the bound of the histogram bucket holding the 99th
# percentile of the SUBMITs between two submit_hist snapshots, in ms.
node_p99() { # before-file after-file
  awk 'NR == FNR { b[$1] = $2; next } { d = $2 - b[$1]; le[++n] = $1; c[n] = d }
       END { t = c[n]; for (i = 1; i <= n; i++) if (c[i] >= 0.99 * t) { if (le[i] == "+Inf") print "inf"; else printf "%g", le[i] * 1000; exit } }' "$1" "$2"
}
# sample_smsc appends "unix-ns submits-ok busy-seconds" every 50 ms until
# killed: the link's submit_sm answered OK and its window-busy integral.
sample_smsc() { # out-file
  while :; do
    curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" 2>/dev/null |
      awk -v t="$(date +%s%N)" '/^ismg_smsc_submits_total\{.*result="ok"/ { n += $NF }
        /^ismg_smsc_window_busy_seconds_total/ { b += $NF } END { print t, n + 0, b + 0 }' >>"$1"
    sleep 0.05
  done
}
# smsc_rates prints "sub/s busy/bind" from a sample file: over the span
# from the last sample before the count moved to the first after it stopped.
smsc_rates() { # sample-file
  awk -v binds="$BINDS" 'NR == 1 { n0 = $2 } { t[NR] = $1; n[NR] = $2; b[NR] = $3 }
    END { for (i = 1; i <= NR && n[i] == n0; i++); s = i > 1 ? i - 1 : 1
          for (j = NR; j > 1 && n[j - 1] == n[NR]; j--);
          dt = (t[j] - t[s]) / 1e9
          if (dt <= 0) { print "- -"; exit }
          printf "%d %.1f\n", (n[j] - n[s]) / dt, (b[j] - b[s]) / dt / binds }' "$1"
}
FMT='%-6s %8s %8s %8s %9s %12s %12s %14s %14s %13s %12s\n'
printf "$FMT" run MT/s done/s sub/s busy/bind resp-p50-ms resp-p99-ms report-p50-ms report-p99-ms node-p99-ms lag-p99-ms
for i in $(seq 1 "$RUNS"); do
  out="$WORK/run$i.json"
  prof=
  spprof=()
  if [ "$i" = 1 ] && [ "${PROFILE:-0}" = 1 ]; then
    spprof=(-cpuprofile "$WORK/spsim.cpu.pprof")
    KEEP=1
    curl -fsS -o "$WORK/ismg.cpu.pprof" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=10" &
    prof=$!
  fi
  submit_hist >"$WORK/hist0"
  : >"$WORK/smsc$i.samples"
  sample_smsc "$WORK/smsc$i.samples" &
  sampler=$!
  run_spsim "$out" "$N" "${spprof[@]}"
  # The last submit_sm may still be on its way: let the sampler see it.
  for _ in $(seq 1 200); do
    [ "$(tail -n1 "$WORK/smsc$i.samples" | cut -d' ' -f2)" -ge "$(( (i - 1) * N + WARMUP + N ))" ] 2>/dev/null && break
    sleep 0.05
  done
  sleep 0.1
  # The sampler's CPU (its curls) is not spsim's: leave it out.
  child_cpu_s >"$WORK/cpu-s0"
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  child_cpu_s >"$WORK/cpu-s1"
  SAMPLER_CPU=$(awk -v a="$(cat "$WORK/cpu-s0")" -v b="$(cat "$WORK/cpu-s1")" -v s="${SAMPLER_CPU:-0}" 'BEGIN { print s + b - a }')
  submit_hist >"$WORK/hist1"
  read -r SUBR BUSYR <<<"$(smsc_rates "$WORK/smsc$i.samples")"
  if [ -n "$prof" ]; then
    wait "$prof" && echo "bench-e2e: ismg CPU profile in $WORK/ismg.cpu.pprof (go tool pprof bin/ismg $WORK/ismg.cpu.pprof)" >&2
    curl -fsS -o "$WORK/ismg.allocs.pprof" "http://127.0.0.1:$PPROF_PORT/debug/pprof/allocs" &&
      echo "bench-e2e: ismg allocation profile in $WORK/ismg.allocs.pprof" >&2
    curl -fsS -o "$WORK/ismg.metrics" "http://127.0.0.1:$HTTP_PORT/metrics" &&
      echo "bench-e2e: ismg metrics after run 1 in $WORK/ismg.metrics" >&2
  fi
  TPUT+=("$(jq '.throughput | floor' "$out")")
  DONE+=("$(jq '.messages / .duration_ns * 1e9 | floor' "$out")")
  SP50+=("$(ms "$(jq .submit_latency.p50_ns "$out")")")
  SP99+=("$(ms "$(jq .submit_latency.p99_ns "$out")")")
  RP50+=("$(ms "$(jq .report_latency.p50_ns "$out")")")
  RP99+=("$(ms "$(jq .report_latency.p99_ns "$out")")")
  NP99+=("$(node_p99 "$WORK/hist0" "$WORK/hist1")")
  LAG99+=("$(if [ "$RATE" = 0 ]; then echo -; else ms "$(jq .send_lag.p99_ns "$out")"; fi)")
  SUBS+=("$SUBR"); BUSY+=("$BUSYR")
  printf "$FMT" "$i" "${TPUT[-1]}" "${DONE[-1]}" "$SUBR" "$BUSYR" "${SP50[-1]}" "${SP99[-1]}" "${RP50[-1]}" "${RP99[-1]}" "≤${NP99[-1]}" "${LAG99[-1]}"
done
per_mt() { awk -v a="$1" -v b="$2" -v n="$((RUNS * N))" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }'; }
ISMG_US=$(per_mt "$ISMG_CPU0" "$(cpu_s "$ISMG_PID")")
SMSC_US=$(per_mt "$SMSC_CPU0" "$(cpu_s "$SMSC_PID")")
child_cpu_s >"$WORK/cpu1"
SP_US=$(per_mt "$SP_CPU0" "$(awk -v a="$(cat "$WORK/cpu1")" -v s="${SAMPLER_CPU:-0}" 'BEGIN { print a - s }')")
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf "$FMT" median "$(median "${TPUT[@]}")" "$(median "${DONE[@]}")" "$(median "${SUBS[@]}")" "$(median "${BUSY[@]}")" "$(median "${SP50[@]}")" \
  "$(median "${SP99[@]}")" "$(median "${RP50[@]}")" "$(median "${RP99[@]}")" "" ""
echo "CPU per MT (µs, incl. its report): ismg $ISMG_US, smscsim $SMSC_US, spsim $SP_US, total $(awk -v a="$ISMG_US" -v b="$SMSC_US" -v c="$SP_US" 'BEGIN { printf "%.1f", a + b + c }')"
read -r TX0 PG0 <<<"$STORE0"; read -r TX1 PG1 <<<"$(store_counts)"
echo "store per MT: transactions $(per_mt "$TX0" "$TX1" | awk '{ printf "%.3f", $1 / 1e6 }'), page writes $(per_mt "$PG0" "$PG1" | awk '{ printf "%.2f", $1 / 1e6 }')"
echo "read+write syscalls per MT: ismg $(per_mt "$ISMG_RW0" "$(sys_rw "$ISMG_PID")" | awk '{ printf "%.2f", $1 / 1e6 }'), smscsim $(per_mt "$SMSC_RW0" "$(sys_rw "$SMSC_PID")" | awk '{ printf "%.2f", $1 / 1e6 }')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
