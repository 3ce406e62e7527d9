"""RedisCluster on a real Kubernetes API (the local cluster), driven by the role through
ansible-playbook with no operator installed.

Runs when KUBECONFIG names a cluster (local-cluster/cluster.sh up, then
`export KUBECONFIG=...`) and REDISIBLE_E2E=1; CI sets both.
"""

import copy
import json
import os
import re
import subprocess
import sys
import uuid

import pytest
import yaml
from redis.cluster import ClusterNode, RedisCluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))

# Every e2e module, only with a Kubernetes API. hack/test.sh runs them on several xdist
# workers (--dist load) against one shared operator (shared_operator.py); with loadgroup and
# no shared operator, one worker runs them in order (each module then starts an operator of
# its own, and the runtime allows one per machine).
E2E_MARKS = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.timeout(1500),
    pytest.mark.skipif(os.environ.get("REDISIBLE_E2E") != "1",
                       reason="needs a Kubernetes API: REDISIBLE_E2E=1 and KUBECONFIG"),
]
pytestmark = E2E_MARKS


def kubectl(*args, stdin=None, check=True):
    proc = subprocess.run(["kubectl"] + list(args), input=stdin, capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), proc.stderr))
    return proc


def get_json(*args):
    return json.loads(kubectl("get", "-o", "json", *args).stdout)


@pytest.fixture(scope="module", autouse=True)
def crds():
    kubectl("apply", "-k", os.path.join(ROOT, "config", "crd"))
    kubectl("wait", "--for=condition=Established", "crd/redisclusters.redis.redisible.io",
            "--timeout=60s")


@pytest.fixture
def namespace():
    name = "e2e-%s" % uuid.uuid4().hex[:6]
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def sample(namespace, **spec):
    with open(os.path.join(ROOT, "config", "samples", "redis_v1alpha1_rediscluster.yaml")) as f:
        cr = yaml.safe_load(f)
    cr["metadata"]["namespace"] = namespace
    cr["spec"].update(spec)
    cr["spec"]["resources"] = {"requests": {"cpu": "10m", "memory": "32Mi"}}
    return cr


def playbook(cr, tmp_path, *extra):
    path = tmp_path / ("cr-%s.json" % uuid.uuid4().hex[:6])
    path.write_text(json.dumps(cr))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
         os.path.join(ROOT, "playbooks", "rediscluster.yml"), "-e", "@%s" % path] + list(extra),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    return proc


def apply_and_reconcile(cr, tmp_path):
    kubectl("apply", "-f", "-", stdin=json.dumps(cr))
    proc = playbook(cr, tmp_path)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return get_json("rediscluster", cr["metadata"]["name"], "-n", cr["metadata"]["namespace"])


def condition(resource, kind):
    for item in resource.get("status", {}).get("conditions", []):
        if item["type"] == kind:
            return item
    return {}


def cluster_client(resource, password):
    nodes = [ClusterNode(shard["master"]["ip"], 6379) for shard in resource["status"]["shards"]]
    return RedisCluster(startup_nodes=nodes, password=password, socket_timeout=5)


def password_of(namespace, name):
    import base64
    secret = get_json("secret", name + "-password", "-n", namespace)
    return base64.b64decode(secret["data"]["password"]).decode()


def test_rediscluster_lifecycle_without_the_operator(namespace, tmp_path):
    cr = sample(namespace, version="5.0", shards=3, replicasPerShard=1)
    resource = apply_and_reconcile(cr, tmp_path)
    assert condition(resource, "Ready")["status"] == "True", resource.get("status")
    assert re.match(r"^3 shards x 1 replicas, 0 keys$", condition(resource, "Ready")["message"])
    assert condition(resource, "Degraded")["status"] == "False"
    # One node: preferred anti-affinity cannot spread a shard, and status says so plainly.
    assert resource["status"]["antiAffinity"]["satisfied"] is False
    assert "share Kubernetes node" in resource["status"]["antiAffinity"]["message"]
    assert resource["status"]["observedGeneration"] == resource["metadata"]["generation"]
    assert len(resource["status"]["shards"]) == 3
    password = password_of(namespace, "demo")
    # The password is nowhere but the Secret.
    for kind in ("configmap", "rediscluster", "statefulset"):
        assert password not in kubectl("get", kind, "-n", namespace, "-o", "yaml").stdout
    client = cluster_client(resource, password)
    pipe = client.pipeline()
    for index in range(5000):
        pipe.set("e2e:%d" % index, index)
    pipe.execute()

    grown = copy.deepcopy(cr)
    grown["spec"]["shards"] = 4
    resource = apply_and_reconcile(grown, tmp_path)
    assert condition(resource, "Ready")["status"] == "True"
    assert resource["status"]["resharding"]["slotsMoved"] == 4096
    client = cluster_client(resource, password)
    assert all(int(client.get("e2e:%d" % i)) == i for i in range(0, 5000, 7))

    resource = apply_and_reconcile(cr, tmp_path)
    assert condition(resource, "Ready")["status"] == "True"
    assert len(resource["status"]["shards"]) == 3
    statefulsets = get_json("statefulsets", "-n", namespace)["items"]
    assert sorted(s["metadata"]["name"] for s in statefulsets) == [
        "demo-shard-0", "demo-shard-1", "demo-shard-2"]
    client = cluster_client(resource, password)
    assert all(int(client.get("e2e:%d" % i)) == i for i in range(5000))

    proc = playbook(cr, tmp_path, "-e", "state=absent")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert get_json("statefulsets", "-n", namespace)["items"] == []
    claims = get_json("pvc", "-n", namespace)["items"]
    assert len(claims) == 6, "reclaimPolicy Retain keeps the volumes"


def test_invalid_crs_are_rejected_by_the_api_server(namespace):
    from test_manifests import INVALID, load_sample
    for name, change, _expected in INVALID:
        cr = load_sample()
        cr["metadata"]["namespace"] = namespace
        cr["metadata"]["name"] = "bad"
        cr["spec"].update(change)
        proc = kubectl("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(cr), check=False)
        assert proc.returncode != 0, "%s was accepted" % name
        assert "Invalid value" in proc.stderr or "Unsupported value" in proc.stderr \
            or "Required value" in proc.stderr or "must" in proc.stderr, proc.stderr


def test_rendered_manifests_pass_server_side_dry_run(namespace, tmp_path):
    from test_manifests import edge_cases, render
    for name, cr in edge_cases().items():
        cr = copy.deepcopy(cr)
        cr["metadata"]["namespace"] = namespace
        for manifest in render(cr, tmp_path):
            proc = kubectl("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(manifest),
                           check=False)
            assert proc.returncode == 0, (name, manifest["kind"], proc.stderr)
