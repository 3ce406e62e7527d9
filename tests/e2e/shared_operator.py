"""One operator for a whole e2e run, shared by the pytest workers and the molecule scenario.

ansible-operator v1.39 hard-codes its proxy (localhost:8888) and API server (:5050): one
operator per machine. To run e2e modules side by side, hack/test.sh starts one operator
before pytest that watches every namespace a worker can ask for (one per e2e module and
worker, named from the run's id) plus molecule's, and stops it after both are done. The
namespace of a module on a worker is ``namespace_for`` here and nowhere else.

    python tests/e2e/shared_operator.py RUN WORKERS [EXTRA_NAMESPACE ...]

prints the comma-separated WATCH_NAMESPACE for such a run.
"""

import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Set by hack/test.sh for the pytest run: the run's id, the operator's log, the namespaces it
# watches (comma-separated).
RUN_ENV, LOG_ENV, NAMESPACES_ENV = ("REDISIBLE_E2E_RUN", "REDISIBLE_E2E_OPERATOR_LOG",
                                    "REDISIBLE_E2E_NAMESPACES")


def module_names():
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HERE, "test_*.py")))


def worker_ids(workers):
    """pytest-xdist's worker ids (gw0, gw1, ...), or 'main' without workers."""
    return ["gw%d" % i for i in range(workers)] if workers > 0 else ["main"]


def namespace_for(run, module, worker):
    short = module[len("test_"):] if module.startswith("test_") else module
    return ("e2e-%s-%s-%s" % (run, short.replace("_", "-"), worker))[:63].rstrip("-")


def watched_namespaces(run, workers, extra=()):
    return [namespace_for(run, m, w) for m in module_names() for w in worker_ids(workers)] + \
        list(extra)


def shared():
    """(namespace pool, operator log) of the operator hack/test.sh started, or None."""
    if not os.environ.get(RUN_ENV):
        return None
    return (os.environ[RUN_ENV], os.environ[NAMESPACES_ENV].split(","), os.environ[LOG_ENV])


if __name__ == "__main__":
    print(",".join(watched_namespaces(sys.argv[1], int(sys.argv[2]), sys.argv[3:])))
