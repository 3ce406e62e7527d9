#!/usr/bin/env bash
# The whole test suite, in two phases:
#   1. unit tests and real Redis of every version (no Kubernetes), two workers;
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
  .venv/bin/python -m pytest -n 2 --dist loadgroup -m "not e2e" "$@"
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
# Two workers, each with its own operator and namespace (tests/e2e/conftest.py): the cases
# mostly wait on pods and Redis, so they overlap well on two cores.
REDISIBLE_E2E=1 .venv/bin/python -m pytest -m e2e -n "${REDISIBLE_E2E_WORKERS:-2}" --dist load \
  --durations=15 "$@"
# The operator-sdk layout's own check: the molecule scenario against the same cluster.
# reset first: molecule keeps "prepared" in ~/.ansible/tmp across runs, and with nothing to
# destroy (delegated driver) a later run would skip prepare (no namespace, no operator).
PATH=$PWD/.venv/bin:$PATH molecule reset
PATH=$PWD/.venv/bin:$PATH molecule test
