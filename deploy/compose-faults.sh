# deploy/compose-faults.sh: the fault table of the compose test, sourced by
# compose-test.sh once the federation runs (it uses that script's helpers:
# dc, hostport, wait_for, gnsctl_any, cluster_agrees, refresh_ports, ...).
#
# Each row puts SP traffic on the federation (spsim on the host, with a
# -record ledger and its own run id), injects one fault while the traffic
# flows, lets it end, and counts from the simulators' own records — the
# spsim ledger and the four smscsims' records, copied out of their
# volumes — with tandem-check, never from Tandem's metrics: sent, acked,
# delivered, duplicated, lost, reports missing. A row fails the test on
# any lost message or missing report. Duplicates are allowed only where a
# gateway is killed with messages in flight to its SMSC (SMPP has no
# idempotency key: those it resends after the restart may have reached
# the SMSC already), up to the crash-resend bound, and counted.
#
# Environment: TANDEM_FAULT_MESSAGES (default 3000) and TANDEM_FAULT_RATE
# (SUBMIT/s, default 300): each row's traffic.

FAULT_MESSAGES=${TANDEM_FAULT_MESSAGES:-3000}
FAULT_RATE=${TANDEM_FAULT_RATE:-300}
REC=$WORK/records
mkdir -p "$REC"
FAULT_ROWS=()
ROW=0
# The crash-resend bound of a killed gateway: its SMSC link's
# resend_bound, by default 4 x binds x window (deploy/config: 4 binds x
# 64) — see ismg/dispatch.go.
KILL_DUP_BOUND=1024
# Beijing's nodes run with resend_bound = binds x window (4 x 64): a node
# killed (and its store adopted by the other) sends at most one window per
# bind twice, as region HA promises.
BJ_KILL_DUP_BOUND=256
# Sina's traffic at Beijing goes to its two nodes (spsim -addr a,b: every
# connection starts at node a, a reconnect tries the next node).
BJ=ismg-bj-a,ismg-bj-b

cid_of() { dc ps -q "$1"; }

# start_load SERVICE[,SERVICE...] SPSIM-ARGS...: Sina's traffic through
# SERVICE in the background (several: the nodes of one gateway, tried in
# turn on reconnects); it rides out the faults (reconnects, resends what a
# dead connection left unanswered) and waits for every report.
start_load() {
  local svcs=$1 addr="" svc hp
  shift
  ROW=$((ROW + 1))
  RUN_ID=$(printf '%08x' $((0xfa000000 + ROW)))
  for svc in ${svcs//,/ }; do
    hp=$(hostport "$svc" 7890) || die "no published CMPP port for $svc"
    addr+=${addr:+,}$hp
  done
  "$BIN/spsim" -addr "$addr" -n "$FAULT_MESSAGES" -conns 2 -rate "$FAULT_RATE" \
    -wait-reports -report-timeout 180s -reconnect-timeout 120s \
    -record "$REC/sp-$ROW.jsonl" -run-id "$RUN_ID" -json \
    -sp-id 901234 -secret sina-secret -src-id 10657001 -version 3.0 "$@" \
    >"$WORK/sp-$ROW.json" 2>"$WORK/sp-$ROW.err" &
  LOAD_PID=$!
  LOAD_T0=$EPOCHREALTIME
}

# load_for SECONDS: the traffic has been flowing for SECONDS (the fault
# goes in mid-run).
load_for() {
  local until
  until=$(awk -v t="$LOAD_T0" -v s="$1" 'BEGIN { printf "%.3f", t + s }')
  while awk -v u="$until" -v n="$EPOCHREALTIME" 'BEGIN { exit !(n < u) }'; do
    kill -0 "$LOAD_PID" 2>/dev/null || break
    sleep 0.2
  done
}

# end_load: wait for spsim; its own verdict is not the row's (tandem-check's is).
end_load() {
  wait "$LOAD_PID" || info "spsim exited non-zero: $(tail -n 3 "$WORK/sp-$ROW.err" | tr '\n' ' ')"
}

fetch_smsc_records() {
  local s
  for s in smsc-bj smsc-tj smsc-gz smsc-nn; do
    docker cp "$(cid_of "$s"):/var/lib/tandem/smsc.jsonl" "$REC/$s.jsonl" >/dev/null 2>&1 ||
      die "copy the record of $s"
  done
}

# fault_row NAME RECOVERY [MAX_DUPLICATES]: count the row's traffic with
# tandem-check and add its line to the table.
fault_row() {
  local name=$1 recovery=$2 maxdup=${3:-0} out rc=0 r
  fetch_smsc_records
  out=$("$BIN/tandem-check" -o json -max-duplicates "$maxdup" "$REC/sp-$ROW.jsonl" \
    "$REC"/smsc-bj.jsonl "$REC"/smsc-tj.jsonl "$REC"/smsc-gz.jsonl "$REC"/smsc-nn.jsonl 2>"$WORK/check-$ROW.err") || rc=$?
  [ "$rc" -le 1 ] || { cat "$WORK/check-$ROW.err" >&2; die "tandem-check on row '$name' (exit $rc)"; }
  r=$(echo "$out" | jq -r '.runs[0] | "\(.sent) \(.acked) \(.delivered) \(.duplicated) \(.lost) \(.reports_missing)"')
  # shellcheck disable=SC2086
  FAULT_ROWS+=("$(printf '%-48s %6s %6s %9s %10s %5s %15s  %s' "$name" $r "$recovery")")
  info "$(printf '%s' "${FAULT_ROWS[-1]}")"
  if [ "$rc" != 0 ]; then
    echo "$out" | jq '{failures, run: .runs[0]}' >&2
    die "fault '$name': $(echo "$out" | jq -r '.failures | join("; ")')"
  fi
  # Every message sent was acked: a fault may slow the SPs, not refuse them.
  [ "$(echo "$out" | jq '.runs[0] | .acked == .sent and .sent == '"$FAULT_MESSAGES")" = true ] ||
    die "fault '$name': not every SUBMIT was acked: $(echo "$out" | jq -c '.runs[0]')"
}

ismg_revision() { # SERVICE: its route cache's table revision
  curl -fsS "http://$(hostport "$1" 9190)/metrics" | awk '$1 == "federation_routecache_revision" { print $2 + 0 }'
}
caches_at() { # REVISION: every ISMG's route cache holds it
  local s r
  for s in "${ISMGS[@]}"; do
    r=$(ismg_revision "$s") || return 1
    [ "${r:-0}" -ge "$1" ] || { echo "$s at revision ${r:-?}, want $1"; return 1; }
  done
}

# lincheck_start NAME DURATION: gns-lincheck writes and reads its own segments
# through every GNS node for DURATION in the background (porcupine checks
# the history when it ends). lincheck_verdict NAME waits for it (in this
# shell: the checker is its child), fails the test on a non-linearizable
# history, and puts its summary line in LIN_OUT.
lincheck_start() {
  "$BIN/gns-lincheck" -addrs "${GRPC[gns1]},${GRPC[gns2]},${GRPC[gns3]}" "${GNS_AUTH[@]}" \
    -clients 4 -duration "$2" -json -out "$WORK/$1.html" >"$WORK/$1.json" 2>"$WORK/$1.err" &
  LIN_PID=$!
}
lincheck_verdict() {
  local rc=0
  wait "$LIN_PID" || rc=$?
  [ "$rc" = 0 ] || { cat "$WORK/$1.err" "$WORK/$1.json" >&2; die "gns-lincheck ($1): exit $rc (history in $WORK/$1.html)"; }
  LIN_OUT=$(jq -r '"\(.checked_ops) operations checked (writes \(.writes_ok) ok, \(.writes_unknown) unknown, \(.writes_failed) failed; reads \(.reads_ok) ok, \(.reads_failed) failed), linearizable, check \(.check_ns / 1e6 | floor) ms"' "$WORK/$1.json")
}

# ---------------------------------------------------------------- rows
say "Faults under load: each row's traffic counted from the simulators' records (tandem-check)"

# GNS leader killed: routes keep coming from the gateways' caches, writes
# resume after the election through any node, nothing acknowledged lost.
# Meanwhile gns-lincheck writes and reads its own segments through every
# node and checks the history for linearizability (porcupine).
lincheck_start lincheck 25s
start_load "$BJ" -dest-prefix 1380201 -coding ascii -text "leader kill"
load_for 3
LEADER=$(leader_of gns1)
[ -n "$LEADER" ] || die "no GNS leader before the kill"
t=$EPOCHREALTIME
docker kill -s KILL "$(cid_of "$LEADER")" >/dev/null
EXCLUDE=$LEADER
others=()
for n in gns1 gns2 gns3; do [ "$n" = "$LEADER" ] || others+=("$n"); done
wait_for 60 "a new GNS leader" cluster_agrees "${others[@]}"
wait_for 30 "a write after the election" gnsctl_any segment add 1880020 001001
elect=$(secs_since "$t")
dc start "$LEADER" >/dev/null 2>&1
wait_for 30 "published ports of $LEADER" refresh_ports "$LEADER"
EXCLUDE=""
wait_for 60 "$LEADER back in the cluster" cluster_agrees gns1 gns2 gns3
end_load
fault_row "GNS leader ($LEADER) killed" "${elect}s to a write"
lincheck_verdict lincheck
LIN=$LIN_OUT
info "GNS linearizability across the leader kill: $LIN"

# GNS network split: the leader's Raft port cut off from the other two
# (iptables in its network namespace, both directions), while its gRPC
# port stays reachable, so gns-lincheck's clients keep talking to the old
# leader through the split — the case where a stale leader could answer a
# read from a table the majority has moved past. The majority elects a
# leader and takes writes; the split heals after 15 s and the old leader
# rejoins. The history is checked for linearizability like the kill's.
raft_cut() { # SERVICE -I|-D: drop (or stop dropping) its Raft traffic
  local pid
  pid=$(docker inspect -f '{{.State.Pid}}' "$(cid_of "$1")") || return 1
  nsenter -t "$pid" -n iptables "$2" INPUT -p tcp --dport 7000 -j DROP &&
    nsenter -t "$pid" -n iptables "$2" OUTPUT -p tcp --dport 7000 -j DROP
}
lincheck_start lincheck-split 30s
start_load "$BJ" -dest-prefix 1380201 -coding ascii -text "gns split"
load_for 3
LEADER=$(leader_of gns1)
[ -n "$LEADER" ] || die "no GNS leader before the split"
t=$EPOCHREALTIME
raft_cut "$LEADER" -I || die "cut $LEADER's Raft port"
EXCLUDE=$LEADER
others=()
for n in gns1 gns2 gns3; do [ "$n" = "$LEADER" ] || others+=("$n"); done
wait_for 60 "a new GNS leader on the majority side" cluster_agrees "${others[@]}"
wait_for 30 "a write on the majority side" gnsctl_any segment add 1880021 001001
elect=$(secs_since "$t")
load_for 18
raft_cut "$LEADER" -D || die "heal $LEADER's Raft port"
EXCLUDE=""
wait_for 60 "$LEADER back in the cluster after the split" cluster_agrees gns1 gns2 gns3
end_load
fault_row "GNS leader ($LEADER) split from the others 15 s" "${elect}s to a write"
lincheck_verdict lincheck-split
LIN_SPLIT=$LIN_OUT
info "GNS linearizability across the split: $LIN_SPLIT"

# Rolling restart of the GNS: one node at a time, each back before the
# next; a write goes through after each, and the gateways' caches follow.
start_load "$BJ" -dest-prefix 1380771 -coding ascii -text "rolling restart"
t=$EPOCHREALTIME
for n in gns1 gns2 gns3; do
  dc restart -t 10 "$n" >/dev/null 2>&1 || die "restart $n"
  wait_for 30 "published ports of $n" refresh_ports "$n"
  wait_for 60 "the cluster with $n back" cluster_agrees gns1 gns2 gns3
  wait_for 30 "a write after restarting $n" gnsctl_any segment add "188003${n#gns}" 001001
done
REV=$(revision_of gns1)
wait_for 30 "every gateway's route cache at revision $REV" caches_at "$REV"
roll=$(secs_since "$t")
end_load
fault_row "GNS rolling restart (3 nodes), caches at rev $REV" "${roll}s for all"

# All GNS nodes down for 30 s: cross-region traffic keeps flowing on the
# gateways' cached tables.
dc stop -t 5 gns1 gns2 gns3 >/dev/null 2>&1 || die "stop the GNS"
t=$EPOCHREALTIME
start_load "$BJ" -dest-prefix 1380201 -coding ascii -text "no gns"
load_for 30
dc start gns1 gns2 gns3 >/dev/null 2>&1 || die "start the GNS"
wait_for 30 "published GNS ports" refresh_ports gns1 gns2 gns3
wait_for 90 "the GNS cluster back" cluster_agrees gns1 gns2 gns3
end_load
fault_row "all GNS nodes stopped for 30 s" "$(secs_since "$t")s to a cluster"

# Guangzhou's gateway killed (SIGKILL) while Beijing forwards to it, then
# started again: what Beijing had acked is delivered, its reports come back.
start_load "$BJ" -dest-prefix 1380201 -coding ascii -text "gz kill"
load_for 4
t=$EPOCHREALTIME
docker kill -s KILL "$(cid_of ismg-gz)" >/dev/null
dc start ismg-gz >/dev/null 2>&1 || die "start ismg-gz"
wait_for 60 "ismg-gz healthy again" ismg_healthy ismg-gz
back=$(secs_since "$t")
end_load
fault_row "ISMG Guangzhou kill -9, restarted" "${back}s to healthy" "$KILL_DUP_BOUND"

# Beijing's node a killed (SIGKILL) under load. Sina's connections are at
# node a; they log in at node b at once (spsim -addr a,b) and the run goes
# on there. Node b adopts a's store once its lease lapsed (ha.lease_ttl,
# 60 s: longer than the GNS outage of the row above) plus ha.adopt_after:
# it sends what a had queued (what a had in flight to the SMSC again, at
# most one window per bind: resend_bound), binds with a's SMSC account to
# collect a's receipts and delivers a's reports to the SP, now at b. Then
# node a is started again: while b holds its store it must refuse to start
# (fencing); once b drained the store and released it, a takes it back.
bj_store_held_by_b() { holder_is 001001-bj-a bj-b; }
bj_store_not_b() { local h; h=$(lease_holder 001001-bj-a) && [ "$h" != bj-b ]; }
# bj_a_settled: node a, started again, either exited (refused its store)
# or is healthy (took it back).
bj_a_settled() {
  local st
  st=$(docker inspect -f '{{.State.Status}}' "$(cid_of ismg-bj-a)") || return 1
  [ "$st" = exited ] || ismg_healthy ismg-bj-a >/dev/null
}
adopted_resends() { # the adopter's count of MTs a's store had in flight, sent again
  curl -fsS "http://$(hostport ismg-bj-b 9190)/metrics" |
    awk '$1 == "ismg_ha_adopted_resends_total{store=\"001001-bj-a\"}" { print $2 + 0 }'
}
start_load "$BJ" -dest-prefix 1390010 -coding ascii -text "bj node kill"
load_for 4
t=$EPOCHREALTIME
docker kill -s KILL "$(cid_of ismg-bj-a)" >/dev/null
wait_for 150 "ismg-bj-b to adopt the store of bj-a (lease_ttl + adopt_after)" bj_store_held_by_b
adopted=$(secs_since "$t")
info "node b adopted store 001001-bj-a ${adopted}s after the kill; starting node a again"
dc start ismg-bj-a >/dev/null 2>&1 || die "start ismg-bj-a"
wait_for 60 "ismg-bj-a to refuse its store or take it back" bj_a_settled
if [ "$(docker inspect -f '{{.State.Status}}' "$(cid_of ismg-bj-a)")" = exited ]; then
  code=$(docker inspect -f '{{.State.ExitCode}}' "$(cid_of ismg-bj-a)")
  [ "$code" != 0 ] || die "ismg-bj-a exited 0 while its store was adopted"
  dc logs --no-color ismg-bj-a >"$WORK/log-bj-a" 2>&1 || true
  grep -q 'refusing to start from store 001001-bj-a' "$WORK/log-bj-a" ||
    { tail -n 5 "$WORK/log-bj-a" >&2; die "ismg-bj-a exited $code without refusing its store"; }
  BJ_FENCE="node a started while b held its store: refused to start (exit $code, 'refusing to start from store 001001-bj-a')"
  wait_for 120 "ismg-bj-b to drain the store of bj-a and release it" bj_store_not_b
  drained=$(secs_since "$t")
  dc start ismg-bj-a >/dev/null 2>&1 || die "start ismg-bj-a after the release"
  wait_for 60 "ismg-bj-a healthy with its store back" ismg_healthy ismg-bj-a
  BJ_FENCE+="; started again after b released it: took it back"
else
  drained=$(secs_since "$t")
  BJ_FENCE="node a started after b had drained and released its store: took it back (b's drain beat the restart)"
fi
wait_for 30 "bj-a to hold its own store again" holder_is 001001-bj-a bj-a
back=$(secs_since "$t")
end_load
BJ_RESENDS=$(adopted_resends || echo "?")
BJ_SP=$(jq -r '"SP: \(.reconnects) reconnects (to node b), \(.resent) SUBMITs resent"' "$WORK/sp-$ROW.json" 2>/dev/null || echo "SP: ?")
fault_row "ISMG Beijing node a kill -9 under load" "${adopted}s adopted, ${drained}s drained" "$BJ_KILL_DUP_BOUND"
info "Beijing node kill: $BJ_FENCE; node a healthy with its store after ${back}s"
info "Beijing node kill: $BJ_SP; MTs a had in flight, sent again by b: ${BJ_RESENDS} (bound $BJ_KILL_DUP_BOUND)"

# Guangzhou cut off the backbone for 30 s: Beijing queues its forwards,
# and they flow when the network is back.
BACKBONE=${PROJECT}_backbone
start_load "$BJ" -dest-prefix 1380201 -coding ascii -text "backbone cut"
load_for 3
t=$EPOCHREALTIME
docker network disconnect "$BACKBONE" "$(cid_of ismg-gz)" || die "disconnect ismg-gz"
load_for 33
docker network connect --alias ismg-gz "$BACKBONE" "$(cid_of ismg-gz)" || die "reconnect ismg-gz"
end_load
fault_row "Guangzhou off the backbone for 30 s" "$(secs_since "$t")s to the last report"

# Beijing's SMSC restarted: the links rebind with backoff, the queue drains.
start_load "$BJ" -dest-prefix 1390010 -coding ascii -text "smsc restart"
load_for 3
t=$EPOCHREALTIME
dc restart -t 10 smsc-bj >/dev/null 2>&1 || die "restart smsc-bj"
end_load
fault_row "SMSC of Beijing restarted" "$(secs_since "$t")s to the last report"

# A route change under load: 13802019… leaves Guangzhou for Nanning
# mid-run; new messages take the new gateway, none is lost.
start_load "$BJ" -dest-prefix 13802019 -coding ascii -text "route change"
load_for 5
t=$EPOCHREALTIME
gnsctl_any segment add 13802019 077101 >/dev/null || die "segment add 13802019 077101"
end_load
fault_row "route change under load (13802019 -> Nanning)" "$(secs_since "$t")s to the last report"
gz=$(grep -c "\"key\":\"$RUN_ID" "$REC/smsc-gz.jsonl" || true)
nn=$(grep -c "\"key\":\"$RUN_ID" "$REC/smsc-nn.jsonl" || true)
[ "$gz" -gt 0 ] && [ "$nn" -gt 0 ] ||
  die "route change: record lines of the run at Guangzhou $gz, at Nanning $nn: want both > 0"
info "route change: the run's records at Guangzhou's SMSC $gz lines, at Nanning's $nn"

say "Fault table ($FAULT_MESSAGES messages a row at $FAULT_RATE/s, counted by tandem-check)"
printf '   %-48s %6s %6s %9s %10s %5s %15s  %s\n' fault sent acked delivered duplicated lost reports-missing recovery
for line in "${FAULT_ROWS[@]}"; do info "$line"; done
info "GNS linearizability across the leader kill (gns-lincheck): $LIN"
info "GNS linearizability across the split (gns-lincheck): $LIN_SPLIT"
info "Beijing node a kill -9: $BJ_FENCE"
