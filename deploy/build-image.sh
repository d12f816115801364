#!/usr/bin/env bash
# deploy/build-image.sh [CONTEXT_DIR]: build the FROM-scratch image
# (deploy/Dockerfile) holding every Tandem command.
#
# The build context is assembled in CONTEXT_DIR (which the caller then owns;
# deploy/compose-test.sh runs the host-side gnsctl and spsim from its bin/)
# or, without it, in a temporary folder removed afterwards:
#	bin/     the six static binaries, from `make build BIN=<context>/bin`
#	         (bin/ in the tree is left alone)
#	rootfs/  the empty /tmp and /var/lib/tandem that scratch lacks
#	config/  a copy of deploy/config, the image's default /etc/tandem
#
# Environment: TANDEM_IMAGE (default tandem:dev); TANDEM_SKIP_BUILD=1 takes
# the binaries from bin/ instead of building them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
IMAGE=${TANDEM_IMAGE:-tandem:dev}
CMDS=(gns gnsctl ismg smscsim spsim billing gns-lincheck)

if [ $# -gt 1 ]; then
  echo "usage: $0 [CONTEXT_DIR]" >&2
  exit 2
fi
if [ $# = 1 ]; then
  CTX=$1
  mkdir -p "$CTX"
else
  CTX=$(mktemp -d "${TMPDIR:-/tmp}/tandem-image.XXXXXX")
  trap 'rm -rf "$CTX"' EXIT
fi
CTX=$(cd "$CTX" && pwd)
rm -rf "$CTX/bin" "$CTX/rootfs" "$CTX/config"
mkdir -p "$CTX/bin" "$CTX/rootfs/tmp" "$CTX/rootfs/var/lib/tandem"
chmod 1777 "$CTX/rootfs/tmp"

if [ "${TANDEM_SKIP_BUILD:-}" = 1 ]; then
  for c in "${CMDS[@]}"; do
    cp "$ROOT/bin/$c" "$CTX/bin/" || { echo "bin/$c is missing: make build" >&2; exit 1; }
  done
else
  # Straight into the context, so a concurrent `go build -o bin/...` in the
  # tree can neither break this build nor be clobbered by it.
  make -s build BIN="$CTX/bin" >&2
fi
for c in "${CMDS[@]}"; do
  [ -x "$CTX/bin/$c" ] || { echo "$c was not built" >&2; exit 1; }
  # In scratch a dynamically linked binary fails with a baffling "no such
  # file or directory" (the missing file is the loader); say so here.
  if command -v file >/dev/null && file -L "$CTX/bin/$c" | grep -q 'dynamically linked'; then
    echo "$c is dynamically linked: build with CGO_ENABLED=0 (make build)" >&2
    exit 1
  fi
done
cp -r "$ROOT/deploy/config" "$CTX/config"
# The containers run as uid 65532: whatever the umask, the binaries and
# configs must be readable by it (and the binaries executable).
chmod 0755 "$CTX/bin"/*
chmod -R a+rX "$CTX/config"

# BuildKit needs the buildx plugin; without it the classic builder does the
# same job for a Dockerfile this simple.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
old=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
log=$(mktemp "${TMPDIR:-/tmp}/tandem-image-build.XXXXXX")
if ! docker build -t "$IMAGE" -f "$ROOT/deploy/Dockerfile" "$CTX" >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
new=$(docker image inspect -f '{{.Id}}' "$IMAGE")
if [ -n "$old" ] && [ "$old" != "$new" ]; then
  # The previous build lost its tag; drop it unless a container still uses it.
  docker image rm "$old" >/dev/null 2>&1 || true
fi
echo "$IMAGE $new $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.1fMB", $1 / 1e6 }')"
