#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for development and CI: system packages, the Python venv
# (.venv) with runtime and tooling packages, and every supported Redis version. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(redis-server redis-tools redis-sentinel build-essential python3-venv busybox-static)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Keep Debian's postinst from starting redis-server as a service: tests start their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt

PYTHON="$python" bash hack/install-redis-versions.sh
