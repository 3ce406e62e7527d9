#!/usr/bin/env bash
# run-operator.sh [ansible-operator run flags]: the operator out of cluster over this checkout
# (the runtime local-cluster builds), with the one environment `make run`, the demo, the e2e
# suite and molecule share. WATCH_NAMESPACE comes from the caller. Execs the runtime, so the
# caller's pid is the operator's (hack/kill-tree.sh stops it with its runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${REDISIBLE_CACHE:-$HOME/.cache/redisible}
export PATH=$root/.venv/bin:$cache/k8s-bin:$PATH
export ANSIBLE_ROLES_PATH=$root/roles ANSIBLE_LIBRARY=$root/library
export ANSIBLE_MODULE_UTILS=$root/module_utils ANSIBLE_CONFIG=$root/ansible.cfg
# The roles use no facts: a role-based watch gathers them on every reconcile unless this is
# set (config/manager sets the same for the deployed operator).
export ANSIBLE_GATHERING=explicit
cd "$root"
exec ansible-operator run --watches-file "$root/watches.yaml" "$@"
