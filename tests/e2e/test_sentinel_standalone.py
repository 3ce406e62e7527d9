"""RedisSentinel and Redis (standalone) under the real operator on the cluster in KUBECONFIG."""

import base64
import json
import os
import time

import redis
import yaml
from redis.backoff import NoBackoff
from redis.retry import Retry
from sentinel_harness import SentinelWriter  # noqa: E402
from test_operator import wait_ready
from test_rediscluster_playbook import E2E_MARKS, ROOT, condition, get_json, kubectl

pytestmark = E2E_MARKS

DOWN_AFTER_MS = 3000
FAILOVER_TIMEOUT_MS = 20000


def sample(kind, namespace, name, **spec):
    with open(os.path.join(ROOT, "config", "samples", "redis_v1alpha1_%s.yaml" % kind)) as f:
        cr = yaml.safe_load(f)
    cr["metadata"].update({"namespace": namespace, "name": name})
    cr["spec"].update({"resources": {"requests": {"cpu": "10m"}}}, **spec)
    return cr


def password_of(namespace, name):
    secret = get_json("secret", "%s-password" % name, "-n", namespace)
    return base64.b64decode(secret["data"]["password"]).decode()


class PodSentinels(object):
    """What a sentinel-aware client does: ask the sentinels (pod IPs) for the master."""

    def __init__(self, namespace, name, password, master_name="mymaster"):
        self.namespace, self.name = namespace, name
        self.password, self.master_name = password, master_name
        self.addresses = []
        self.refresh()

    def refresh(self):
        pods = get_json("pods", "-n", self.namespace, "-l",
                        "app.kubernetes.io/instance=%s,app.kubernetes.io/component=sentinel"
                        % self.name)["items"]
        self.addresses = [p["status"]["podIP"] for p in pods if p["status"].get("podIP")]

    def discover(self):
        for host in self.addresses:
            try:
                client = redis.Redis(host=host, port=26379, password=self.password,
                                     socket_timeout=1, socket_connect_timeout=1,
                                     decode_responses=True, retry=Retry(NoBackoff(), 0))
                reply = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                                               self.master_name)
                if reply:
                    return reply[0], int(reply[1])
            except redis.RedisError:
                continue
        raise RuntimeError("no sentinel names a master")


def test_sentinel_failover_on_kubernetes_loses_no_acknowledged_write(operator_namespace):
    namespace, log_path = operator_namespace
    cr = sample("redissentinel", namespace, "ha", version="5.0",
                sentinel={"replicas": 3, "quorum": 2, "downAfterMilliseconds": DOWN_AFTER_MS,
                          "failoverTimeout": FAILOVER_TIMEOUT_MS, "parallelSyncs": 1},
                storage={"size": "1Gi", "reclaimPolicy": "Delete"})
    kubectl("apply", "-f", "-", stdin=json.dumps(cr))
    resource = wait_ready(namespace, "ha", generation=1, kind="redissentinel")
    status = resource["status"]
    assert status["master"]["pod"] == "ha-redis-0"
    assert [r["linkStatus"] for r in status["replicas"]] == ["up", "up"]
    assert all(s["master"] == "%s:6379" % status["master"]["ip"] for s in status["sentinels"])
    password = password_of(namespace, "ha")
    sentinels = PodSentinels(namespace, "ha", password)
    master_ip = status["master"]["ip"]
    assert sentinels.discover() == (master_ip, 6379)
    labels = get_json("pod", "ha-redis-0", "-n", namespace)["metadata"]["labels"]
    assert labels["redis.redisible.io/role"] == "master"

    writer = SentinelWriter(sentinels, keys=300, password=password)
    writer.start()
    time.sleep(3)
    assert writer.ops > 0, "the writer cannot write through the sentinels"
    deleted = time.time()
    kubectl("delete", "pod", status["master"]["pod"], "-n", namespace, "--wait=false")
    # The failover as clients see it: the first write a new master acknowledges.
    new_master_at = None
    while time.time() < deleted + 120 and new_master_at is None:
        for acks in list(writer.acked.values()):
            for _counter, address in acks:
                if address != "%s:6379" % master_ip and new_master_at is None:
                    new_master_at = time.time()
        time.sleep(0.1)
    assert new_master_at is not None, "no new master accepted a write"
    failover_seconds = new_master_at - deleted
    print("failover: master pod deleted -> new master accepting writes in %.1fs "
          "(down-after %d ms, failover-timeout %d ms)" % (
              failover_seconds, DOWN_AFTER_MS, FAILOVER_TIMEOUT_MS))
    if failover_seconds >= (DOWN_AFTER_MS + FAILOVER_TIMEOUT_MS) / 1000.0 + 10:
        logs = "\n".join(kubectl("logs", "ha-sentinel-%d" % i, "-n", namespace,
                                  check=False).stdout[-3000:] for i in range(3))
        raise AssertionError("failover took %.1fs:\n%s" % (failover_seconds, logs))

    # The operator re-points the re-created pod (new IP, parked) and forgets the old address.
    deadline = time.time() + 300
    while time.time() < deadline:
        resource = get_json("redissentinel", "ha", "-n", namespace)
        status = resource["status"]
        ips = [r["ip"] for r in status.get("replicas", [])]
        if condition(resource, "Ready").get("status") == "True" and master_ip not in ips \
                and (status.get("master") or {}).get("ip") not in (None, master_ip) \
                and all(r["linkStatus"] == "up" for r in status["replicas"]):
            break
        time.sleep(3)
    else:
        raise AssertionError("no recovery: %s" % json.dumps(resource.get("status"))[:2000])
    writer.stop()
    assert writer.ops > 100
    new = status["master"]
    client = redis.Redis(host=new["ip"], port=6379, password=password)
    assert writer.verify(client, lost_addresses={"%s:6379" % master_ip}) == {}
    for sentinel in status["sentinels"]:
        assert sentinel["master"] == "%s:6379" % new["ip"]
        assert sentinel["knownSentinels"] == 2 and sentinel["knownReplicas"] == 2, sentinel
    labels = get_json("pod", new["pod"], "-n", namespace)["metadata"]["labels"]
    assert labels["redis.redisible.io/role"] == "master"

    kubectl("patch", "redissentinel", "ha", "-n", namespace, "--type=merge",
            "-p", '{"spec":{"replicas":2}}')
    resource = wait_ready(namespace, "ha", generation=2, kind="redissentinel")
    assert len(resource["status"]["replicas"]) == 1
    assert resource["status"]["master"]["pod"] in ("ha-redis-0", "ha-redis-1")

    kubectl("delete", "redissentinel", "ha", "-n", namespace, "--timeout=300s")
    deadline = time.time() + 120
    while time.time() < deadline and get_json("pvc", "-n", namespace)["items"]:
        time.sleep(2)
    assert get_json("pvc", "-n", namespace)["items"] == []
    with open(log_path) as handle:
        assert password not in handle.read(), "the password reached the operator's log"


def test_standalone_keeps_its_data_across_a_pod_restart(operator_namespace):
    namespace, _log_path = operator_namespace
    cr = sample("redis", namespace, "cache", version="7.0",
                storage={"size": "1Gi", "reclaimPolicy": "Retain"})
    kubectl("apply", "-f", "-", stdin=json.dumps(cr))
    resource = wait_ready(namespace, "cache", generation=1, kind="redis")
    assert resource["status"]["role"] == "master"
    # Cluster DNS answers inside the pods (the local cluster runs CoreDNS).
    found = kubectl("exec", "cache-0", "-n", namespace, "--", "busybox", "nslookup",
                    "cache-headless.%s.svc.cluster.local" % namespace).stdout
    assert resource["status"]["ip"] in found, found
    password = password_of(namespace, "cache")
    client = redis.Redis(host=resource["status"]["ip"], port=6379, password=password)
    pipe = client.pipeline(transaction=False)
    for index in range(5000):
        pipe.set("s:%d" % index, index)
    pipe.execute()
    old_ip = resource["status"]["ip"]
    kubectl("delete", "pod", "cache-0", "-n", namespace)
    deadline = time.time() + 300
    while time.time() < deadline:
        resource = get_json("redis", "cache", "-n", namespace)
        if resource["status"].get("ip") not in (None, old_ip) and \
                condition(resource, "Ready").get("status") == "True":
            break
        time.sleep(3)
    else:
        raise AssertionError("no recovery: %s" % json.dumps(resource.get("status")))
    assert resource["status"]["keys"] == 5000  # the AOF on the volume brought every key back
    client = redis.Redis(host=resource["status"]["ip"], port=6379, password=password)
    assert all(int(client.get("s:%d" % i)) == i for i in range(0, 5000, 7))
    kubectl("delete", "redis", "cache", "-n", namespace, "--timeout=300s")
    # reclaimPolicy Retain: the volume stays for a later Redis of the same name.
    assert [p["metadata"]["name"] for p in get_json("pvc", "-n", namespace)["items"]] == [
        "data-cache-0"]
