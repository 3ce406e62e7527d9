#!/usr/bin/env bash
# The whole test suite, in two phases:
#   1. unit tests and real Redis of every version (no Kubernetes), four workers;
#   2. the e2e suite and the molecule scenario on a real Kubernetes: the cluster in
#      KUBECONFIG when it answers,
#      otherwise the local cluster (local-cluster/cluster.sh), started for the run and stopped
#      after it.
# hack/test.sh --e2e runs phase 2 only; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

phases="fast e2e"
if [ "${1:-}" = "--e2e" ]; then
  phases=e2e
  shift
fi

if [[ " $phases " == *" fast "* ]]; then
  # Four workers on two cores: these tests mostly wait on Redis processes (failovers, syncs,
  # sentinel timers), not on the CPU (load average below 1 with two workers).
  .venv/bin/python -m pytest -n "${REDISIBLE_FAST_WORKERS:-4}" --dist loadgroup -m "not e2e" \
    --durations=15 "$@"
fi

started_cluster=
cleanup() { [ -z "$started_cluster" ] || local-cluster/cluster.sh down; }
trap cleanup EXIT
if [ -n "${KUBECONFIG:-}" ] && kubectl get --raw /readyz >/dev/null 2>&1; then
  echo "[test] e2e on the cluster in KUBECONFIG=$KUBECONFIG"
else
  export REDISIBLE_CLUSTER_DIR=${REDISIBLE_CLUSTER_DIR:-/var/lib/redisible-cluster}
  started=$(date +%s)
  local-cluster/cluster.sh up
  started_cluster=1
  echo "[test] local cluster up in $(( $(date +%s) - started ))s"
  export KUBECONFIG=$REDISIBLE_CLUSTER_DIR/admin.kubeconfig
fi
# One after the other: the operator runtime allows one operator per machine (conftest.py).
REDISIBLE_E2E=1 .venv/bin/python -m pytest -m e2e --durations=15 "$@"
# The operator-sdk layout's own check: the molecule scenario against the same cluster.
# reset first: molecule keeps "prepared" in ~/.ansible/tmp across runs, and with nothing to
# destroy (delegated driver) a later run would skip prepare (no namespace, no operator).
PATH=$PWD/.venv/bin:$PATH molecule reset
PATH=$PWD/.venv/bin:$PATH molecule test
