"""Shared by the e2e tests: the operator, started once per module against a namespace."""

import os
import shutil
import socket
import subprocess
import uuid

import pytest
from test_rediscluster_playbook import ROOT, get_json, kubectl

BIN = os.path.join(os.environ.get("REDISIBLE_CACHE", os.path.expanduser("~/.cache/redisible")),
                   "k8s-bin")


PROXY_PORT = 8888  # ansible-operator v1.39 writes this port into the roles' kubeconfig


def assert_proxy_port_free():
    """One operator per machine: a second one cannot start its proxy, and would then never
    reconcile anything. Say so instead of timing out later."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", PROXY_PORT))
        except OSError:
            holders = subprocess.run(["pgrep", "-af", "ansible-operator run"],
                                     capture_output=True, text=True).stdout
            raise AssertionError("port %d is taken (another operator?): %s" % (
                PROXY_PORT, holders.strip() or "unknown process"))


@pytest.fixture(scope="module")
def operator_namespace(tmp_path_factory):
    assert_proxy_port_free()
    namespace = "op-%s" % uuid.uuid4().hex[:6]
    kubectl("apply", "-k", os.path.join(ROOT, "config", "crd"))
    kubectl("create", "namespace", namespace)
    binary = shutil.which("ansible-operator") or os.path.join(BIN, "ansible-operator")
    venv_bin = os.path.join(ROOT, ".venv", "bin")
    env = dict(os.environ, WATCH_NAMESPACE=namespace,
               PATH=venv_bin + os.pathsep + os.environ["PATH"],
               ANSIBLE_ROLES_PATH=os.path.join(ROOT, "roles"),
               ANSIBLE_LIBRARY=os.path.join(ROOT, "library"),
               ANSIBLE_MODULE_UTILS=os.path.join(ROOT, "module_utils"),
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [binary, "run", "--watches-file", os.path.join(ROOT, "watches.yaml"),
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
