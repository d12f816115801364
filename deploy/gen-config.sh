#!/usr/bin/env bash
# gen-config.sh [OUT-DIR]: write the compose federation's ISMG configs from
# deploy/regions and deploy/config/ismg.yaml.in into OUT-DIR (default
# deploy/config). compose-test.sh checks that the committed ones are what
# this writes.
#
# A region of one node gets <name>.yaml (lower case). A region of several
# nodes (the nodes column, e.g. "a,b") gets <name>-<node>.yaml for each:
# the template's "#@HA@" lines are kept for them (and dropped for single
# nodes), gateway.node_index is the node's place in the list, node_bits
# the fewest bits that number them, and the ha: block written below lets
# each node adopt every other node's store.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/config}
mkdir -p "$out"
tmpl=$here/config/ismg.yaml.in

# render FILE SED-ARGS...: the template through sed into FILE.
render() {
  local f=$1
  shift
  sed "$@" "$tmpl" >"$f"
}

grep -v '^\s*#' "$here/regions" | grep -v '^\s*$' | while read -r short code name region link nodes; do
  lower=$(echo "$name" | tr 'A-Z' 'a-z')
  common=(-e "s#@SHORT@#$short#g" -e "s#@CODE@#$code#g" -e "s#@NAME@#$name#g"
    -e "s#@REGION@#$region#g" -e "s#@LINK@#$link#g")
  if [ "${nodes:--}" = - ]; then
    render "$out/$lower.yaml" "${common[@]}" -e '/^#@HA@/d' -e '/^#@SIB@/d' \
      -e "s#@NODESUFFIX@##g" -e "s#@SVC@#ismg-$short#g"
    continue
  fi
  IFS=, read -r -a list <<<"$nodes"
  bits=0
  while [ $((1 << bits)) -lt "${#list[@]}" ]; do bits=$((bits + 1)); done
  seeds=""
  for n in "${list[@]}"; do seeds+="${seeds:+, }ismg-$short-$n:7946"; done
  for i in "${!list[@]}"; do
    n=${list[$i]}
    f=$out/$lower-$n.yaml
    node=(-e "s#@NODESUFFIX@#-$n#g" -e "s#@SVC@#ismg-$short-$n#g" -e "s#@NODE@#$short-$n#g"
      -e "s#@INDEX@#$i#g" -e "s#@BITS@#$bits#g" -e "s#@SEEDS@#$seeds#g")
    render "$f" "${common[@]}" "${node[@]}" -e 's/^#@HA@//' -e 's/^#@SIB@//'
    {
      cat <<YAML
ha:
  # Region HA: this node's store (data_dir) is leased in the GNS
  # (store id $code-$short-$n); the other nodes' stores, on the volume
  # every node of the gateway mounts, are adopted when their node is gone.
  node: $short-$n
  # Longer than the GNS may be away (the fault table stops every GNS node
  # for 30 s): a node that cannot renew within the ttl fences itself.
  lease_ttl: 60s
  renew_interval: 2s
  adopt_after: 5s          # after the lease lapsed, by the GNS leader's clock
  poll_interval: 1s
  adoptable:
YAML
      for m in "${list[@]}"; do
        [ "$m" = "$n" ] && continue
        printf '    - store_id: "%s-%s-%s"\n      config: %s-%s.yaml\n' "$code" "$short" "$m" "$lower" "$m"
      done
    } >>"$f"
  done
done
