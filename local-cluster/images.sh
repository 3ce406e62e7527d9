#!/usr/bin/env bash
# Assembles the images the local cluster runs, without a registry, and imports them into
# containerd under the exact references our manifests use (imagePullPolicy IfNotPresent):
#   registry.k8s.io/pause:3.10         a static pause binary built from a few lines of C
#   docker.io/library/redis:<version>  the same redis-server/redis-cli binaries the tests use,
#                                      their shared libraries and a static busybox for sh
# Usage: images.sh CONTAINERD_SOCKET
set -euo pipefail

sock=$1
cache=${REDISIBLE_CACHE:-$HOME/.cache/redisible}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

have_image() { ctr --address "$sock" -n k8s.io images ls -q | grep -qx "$1"; }

log() { printf '[images] %s\n' "$*" >&2; }

# build_image REFERENCE ROOTFS ENTRYPOINT...
build_image() {
  local ref=$1 rootfs=$2
  shift 2
  local layout=$work/layout-$RANDOM bundle=$work/bundle-$RANDOM
  umoci init --layout "$layout"
  umoci new --image "$layout:latest"
  umoci unpack --image "$layout:latest" "$bundle" >/dev/null
  cp -a "$rootfs/." "$bundle/rootfs/"
  umoci repack --image "$layout:latest" "$bundle"
  local args=()
  for part in "$@"; do args+=(--config.entrypoint "$part"); done
  umoci config --image "$layout:latest" "${args[@]}"
  skopeo copy -q "oci:$layout:latest" "docker-archive:$work/image.tar:$ref"
  ctr --address "$sock" -n k8s.io images import "$work/image.tar" >/dev/null
  rm -rf "$layout" "$bundle" "$work/image.tar"
  log "imported $ref"
}

copy_with_libraries() { # copy_with_libraries BINARY ROOTFS
  local binary
  binary=$(readlink -f "$1")
  install -D -m 0755 "$binary" "$2/usr/local/bin/$(basename "$1")"
  ldd "$binary" 2>/dev/null | grep -o '/[^ ]*' | while read -r library; do
    [ -e "$2$library" ] || install -D "$(readlink -f "$library")" "$2$library"
  done
}

if ! have_image registry.k8s.io/pause:3.10; then
  rootfs=$work/pause
  mkdir -p "$rootfs"
  cat >"$work/pause.c" <<'EOF'
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; exit(0); }
int main(void) {
  signal(SIGTERM, quit);
  signal(SIGINT, quit);
  for (;;) pause();
}
EOF
  gcc -static -O2 -o "$rootfs/pause" "$work/pause.c"
  build_image registry.k8s.io/pause:3.10 "$rootfs" /pause
fi

declare -A references=([5.0]=5.0.6 [6.0]=6.0.9 [6.2]=6.2.14 [7.0]=7.0.15)
for version in 5.0 6.0 6.2 7.0; do
  ref=docker.io/library/redis:${references[$version]}
  have_image "$ref" && continue
  server=$cache/redis/$version/redis-server
  cli=$cache/redis/$version/redis-cli
  [ -x "$cli" ] || cli=$(command -v redis-cli)
  rootfs=$work/redis-$version
  mkdir -p "$rootfs/bin" "$rootfs/data" "$rootfs/tmp" "$rootfs/etc"
  install -m 0755 /bin/busybox "$rootfs/bin/busybox"
  for tool in sh grep printf mkdir cat ls sleep echo cp mv rm tail head wc ps; do
    ln -sf busybox "$rootfs/bin/$tool"
  done
  copy_with_libraries "$server" "$rootfs"
  copy_with_libraries "$cli" "$rootfs"
  echo "root:x:0:0:root:/root:/bin/sh" >"$rootfs/etc/passwd"
  chmod 1777 "$rootfs/tmp"
  build_image "$ref" "$rootfs" /usr/local/bin/redis-server
done
