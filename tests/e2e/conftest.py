"""Shared by the e2e tests: the operator and a namespace it watches, per module.

Under hack/test.sh one operator serves the whole run (shared_operator.py) and each module
gets a namespace of its pool, so modules and tests run side by side on pytest-xdist workers.
Run by hand (no shared operator), a module starts its own operator over its namespace.
"""

import os
import socket
import subprocess
import uuid

import pytest
import shared_operator
from test_rediscluster_playbook import ROOT, get_json, kubectl

# ansible-operator v1.39 hard-codes http://localhost:8888 into the roles' kubeconfig (and
# its own API server on 5050), whatever --proxy-port says: one operator per machine.
PROXY_PORT = 8888


def assert_proxy_port_free(port):
    """A second operator cannot start its proxy, and would then never reconcile anything.
    Say so instead of timing out later."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            holders = subprocess.run(["pgrep", "-af", "ansible-operator run"],
                                     capture_output=True, text=True).stdout
            raise AssertionError("port %d is taken (another operator?): %s" % (
                port, holders.strip() or "unknown process"))


@pytest.fixture(scope="module")
def operator_namespace(request, tmp_path_factory):
    pool = shared_operator.shared()
    if pool:
        yield from namespace_of_the_shared_operator(request.module.__name__.split(".")[-1], *pool)
    else:
        yield from namespace_with_an_operator_of_its_own(tmp_path_factory)


def namespace_of_the_shared_operator(module, run, namespaces, log_path):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    namespace = shared_operator.namespace_for(run, module, worker)
    assert namespace in namespaces, "the shared operator does not watch %s (%s workers?)" % (
        namespace, worker)
    kubectl("create", "namespace", namespace)
    yield namespace, log_path
    # The operator still runs: it removes what the finalizers guard as the namespace goes.
    kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def namespace_with_an_operator_of_its_own(tmp_path_factory):
    assert_proxy_port_free(PROXY_PORT)
    namespace = "op-%s" % uuid.uuid4().hex[:6]
    kubectl("apply", "-k", os.path.join(ROOT, "config", "crd"))
    kubectl("create", "namespace", namespace)
    env = dict(os.environ, WATCH_NAMESPACE=namespace)
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [os.path.join(ROOT, "hack", "run-operator.sh"),
             "--health-probe-bind-address", "127.0.0.1:0", "--metrics-bind-address", "0"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    yield namespace, log_path
    # ansible-runner starts playbooks in sessions of their own; they are still the
    # operator's descendants: stop the whole tree.
    subprocess.run([os.path.join(ROOT, "hack", "kill-tree.sh"), str(proc.pid)], check=False)
    proc.wait()
    for kind in ("redis", "redissentinels", "redisclusters", "redisbackups"):
        for item in get_json(kind, "-n", namespace)["items"]:
            kubectl("patch", kind, item["metadata"]["name"], "-n", namespace,
                    "--type=merge", "-p", '{"metadata":{"finalizers":[]}}', check=False)
    kubectl("delete", "namespace", namespace, "--wait=false", check=False)
