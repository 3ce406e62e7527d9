#!/usr/bin/env bash
# The whole test suite, in two phases:
#   1. unit tests and real Redis of every version (no Kubernetes), four workers;
#   2. the e2e suite, then the molecule scenario, on a real Kubernetes with one operator for
#      both: the cluster in KUBECONFIG when it answers, otherwise the local
#      cluster (local-cluster/cluster.sh), started for the run and stopped after it.
# hack/test.sh --e2e runs phase 2 only; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

phases="fast e2e"
if [ "${1:-}" = "--e2e" ]; then
  phases=e2e
  shift
fi

if [[ " $phases " == *" fast "* ]]; then
  # Six workers on two cores: these tests mostly wait on Redis processes (failovers, syncs,
  # sentinel timers), not on the CPU (measured: 26% idle with six, 60-90% with four; 5:31
  # instead of 8:01). The harness gives each worker its own port range.
  .venv/bin/python -m pytest -n "${REDISIBLE_FAST_WORKERS:-6}" --dist loadgroup -m "not e2e" \
    --durations=15 "$@"
fi

started_cluster=
cleanup() { [ -z "$started_cluster" ] || local-cluster/cluster.sh down; }
trap 'cleanup' EXIT  # redefined below once the operator runs
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
# One operator for the e2e modules and molecule (tests/e2e/shared_operator.py: the runtime
# allows one per machine), watching a namespace per e2e module and worker plus molecule's.
# One worker: every reconcile is an ansible-playbook run, and on two cores more concurrent
# ones only slow each other down (measured: two workers took the load average to 15-30 and
# timed cases out).
workers=${REDISIBLE_E2E_WORKERS:-1}
export REDISIBLE_E2E_RUN
REDISIBLE_E2E_RUN=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export REDISIBLE_E2E_NAMESPACES
REDISIBLE_E2E_NAMESPACES=$(.venv/bin/python tests/e2e/shared_operator.py "$REDISIBLE_E2E_RUN" \
  "$workers" molecule-redisible)
export REDISIBLE_E2E_OPERATOR_LOG
REDISIBLE_E2E_OPERATOR_LOG=$(mktemp -d /tmp/redisible-e2e-XXXXXX)/operator.log
echo "[test] e2e run $REDISIBLE_E2E_RUN: operator log $REDISIBLE_E2E_OPERATOR_LOG"
kubectl apply -k config/crd >/dev/null
kubectl wait --for=condition=Established -f config/crd/bases --timeout=60s >/dev/null
WATCH_NAMESPACE=$REDISIBLE_E2E_NAMESPACES hack/run-operator.sh \
  --health-probe-bind-address 127.0.0.1:0 --metrics-bind-address 0 \
  >"$REDISIBLE_E2E_OPERATOR_LOG" 2>&1 &
operator=$!
stop_operator() {
  # Let the namespaces the modules deleted go while the operator can still run finalizers.
  for namespace in ${REDISIBLE_E2E_NAMESPACES//,/ }; do
    kubectl wait --for=delete "namespace/$namespace" --timeout=120s >/dev/null 2>&1 || true
  done
  hack/kill-tree.sh "$operator"
}
cleanup() {
  stop_operator
  [ -z "$started_cluster" ] || local-cluster/cluster.sh down
}

started=$(date +%s)
e2e_rc=0
REDISIBLE_E2E=1 .venv/bin/python -m pytest -m e2e -n "$workers" --dist load --durations=15 "$@" \
  || e2e_rc=$?
echo "[test] e2e took $(( $(date +%s) - started ))s"

# The operator-sdk layout's own check: the molecule scenario against the same cluster and
# operator (after the e2e suite, not beside it: side by side each took twice as long).
# reset first: molecule keeps "prepared" in ~/.ansible/tmp across runs, and with nothing to
# destroy (delegated driver) a later run would skip prepare (no namespace).
started=$(date +%s)
molecule_rc=0
(
  export PATH=$PWD/.venv/bin:$PATH REDISIBLE_OPERATOR_RUNNING=1
  molecule reset && molecule test
) || molecule_rc=$?
echo "[test] molecule took $(( $(date +%s) - started ))s"
[ "$e2e_rc" = 0 ] && [ "$molecule_rc" = 0 ]
