#!/usr/bin/env bash
# gen-config.sh [OUT-DIR]: write the compose federation's ISMG configs
# (<name>.yaml, lower case) from deploy/regions and deploy/config/ismg.yaml.in
# into OUT-DIR (default deploy/config). compose-test.sh checks that the
# committed ones are what this writes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/config}
mkdir -p "$out"
grep -v '^\s*#' "$here/regions" | grep -v '^\s*$' | while read -r short code name region link; do
  sed -e "s#@SHORT@#$short#g" -e "s#@CODE@#$code#g" -e "s#@NAME@#$name#g" \
      -e "s#@REGION@#$region#g" -e "s#@LINK@#$link#g" \
      "$here/config/ismg.yaml.in" >"$out/$(echo "$name" | tr 'A-Z' 'a-z').yaml"
done
