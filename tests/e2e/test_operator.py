"""The operator itself: the real ansible-operator runtime (built by local-cluster/cluster.sh)
running this repository's watches.yaml, roles, library/ and module_utils/ out of cluster,
watching one namespace of the cluster in KUBECONFIG."""

import base64
import json
import os
import time

import yaml
from redis.cluster import ClusterNode, RedisCluster
from test_rediscluster_playbook import E2E_MARKS, ROOT, condition, get_json, kubectl

pytestmark = E2E_MARKS


def wait_ready(namespace, name, generation=None, timeout=600, what="Ready", kind="rediscluster"):
    deadline = time.time() + timeout
    resource = {}
    while time.time() < deadline:
        resource = get_json(kind, name, "-n", namespace)
        status = resource.get("status", {})
        fresh = generation is None or status.get("observedGeneration") == generation
        if fresh and condition(resource, "Ready").get("status") == "True" and \
                condition(resource, "Progressing").get("status") == "False":
            return resource
        time.sleep(3)
    raise AssertionError("%s not %s: %s" % (name, what, json.dumps(resource.get("status"))[:2000]))


def log_lines(log_path, *needles):
    """The lines of the operator log that hold every needle."""
    with open(log_path) as handle:
        return [line for line in handle if all(n in line for n in needles)]


def finished_runs(log_path, namespace, name):
    """How many reconciles of CR ``name`` the operator log says have finished."""
    return len(log_lines(log_path, "Ansible-runner exited", '"name":"%s"' % name,
                         '"namespace":"%s"' % namespace))


def client_for(resource, password):
    nodes = [ClusterNode(s["master"]["ip"], 6379) for s in resource["status"]["shards"]]
    return RedisCluster(startup_nodes=nodes, password=password, socket_timeout=5)


def test_operator_creates_heals_scales_and_deletes(operator_namespace):
    namespace, log_path = operator_namespace
    with open(os.path.join(ROOT, "config", "samples", "redis_v1alpha1_rediscluster.yaml")) as f:
        cr = yaml.safe_load(f)
    cr["metadata"].update({"namespace": namespace, "name": "opdemo"})
    cr["spec"].update({"version": "7.0", "resources": {"requests": {"cpu": "10m"}},
                       "storage": {"size": "1Gi", "reclaimPolicy": "Delete"}})
    kubectl("apply", "-f", "-", stdin=json.dumps(cr))
    resource = wait_ready(namespace, "opdemo", generation=1)
    secret = get_json("secret", "opdemo-password", "-n", namespace)
    password = base64.b64decode(secret["data"]["password"]).decode()
    client = client_for(resource, password)
    pipe = client.pipeline()
    for index in range(20000):
        pipe.set("op:%d" % index, index)
    pipe.execute()

    # A master pod goes away: it returns with a new IP and its volume; the operator re-meets.
    master = resource["status"]["shards"][0]["master"]
    kubectl("delete", "pod", master["pod"], "-n", namespace)
    deadline = time.time() + 300
    while time.time() < deadline:
        resource = get_json("rediscluster", "opdemo", "-n", namespace)
        ips = [s["master"]["ip"] for s in resource["status"].get("shards", [])] + [
            r["ip"] for s in resource["status"].get("shards", []) for r in s["replicas"]]
        if master["ip"] not in ips and condition(resource, "Ready").get("status") == "True":
            break
        time.sleep(3)
    else:
        raise AssertionError("no recovery: %s" % json.dumps(resource.get("status"))[:2000])
    client = client_for(resource, password)
    assert all(int(client.get("op:%d" % i)) == i for i in range(0, 20000, 3))

    kubectl("patch", "rediscluster", "opdemo", "-n", namespace, "--type=merge",
            "-p", '{"spec":{"shards":4}}')
    resource = wait_ready(namespace, "opdemo", generation=2)
    assert len(resource["status"]["shards"]) == 4
    assert resource["status"]["resharding"]["slotsMoved"] == 4096
    client = client_for(resource, password)
    assert all(int(client.get("op:%d" % i)) == i for i in range(20000))
    # A later reconcile that moves no slot (one is started here by touching an object the CR
    # owns) keeps the last resharding's figures instead of writing zeros over them.
    runs = finished_runs(log_path, namespace, "opdemo")
    kubectl("annotate", "configmap", "opdemo-config", "-n", namespace, "--overwrite",
            "redis.redisible.io/e2e-touched=%d" % runs)
    deadline = time.time() + 180
    while finished_runs(log_path, namespace, "opdemo") <= runs:
        assert time.time() < deadline, "touching an owned object started no reconcile"
        time.sleep(2)
    resharding = get_json("rediscluster", "opdemo", "-n", namespace)["status"]["resharding"]
    assert resharding["slotsMoved"] == 4096, resharding

    kubectl("delete", "rediscluster", "opdemo", "-n", namespace, "--timeout=300s")
    deadline = time.time() + 120
    while time.time() < deadline and get_json("pvc", "-n", namespace)["items"]:
        time.sleep(2)
    assert get_json("pvc", "-n", namespace)["items"] == [], "reclaimPolicy Delete keeps nothing"
    with open(log_path) as handle:
        assert password not in handle.read(), "the password reached the operator's log"
