#!/usr/bin/env python3
"""The main job: a RedisCluster managed by the operator on Kubernetes.

With a cluster in KUBECONFIG that answers, that one is used; otherwise the local single-node
Kubernetes (local-cluster/cluster.sh) is built once and started. Then the CRDs go in, the
operator (the real ansible-operator runtime over this checkout) starts watching the
`redisible-demo` namespace, the sample RedisCluster is applied, and once it is Ready the
topology is printed with a write/read round trip through a cluster-aware client.

The operator keeps running afterwards (its pid and log are under the cluster state dir);
`make demo-down` stops it and the local cluster.
"""

import base64
import json
import os
import subprocess
import sys
import time

import yaml
from redis.cluster import ClusterNode, RedisCluster

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE = os.environ.get("REDISIBLE_CLUSTER_DIR", "/var/lib/redisible-cluster")
NAMESPACE = "redisible-demo"


def kubectl(*args, stdin=None, check=True):
    proc = subprocess.run(["kubectl"] + list(args), input=stdin, capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        sys.exit("kubectl %s failed: %s" % (" ".join(args), proc.stderr.strip()))
    return proc


def ensure_cluster():
    if os.environ.get("KUBECONFIG") and kubectl("get", "--raw", "/readyz",
                                                check=False).returncode == 0:
        print("== using the cluster in KUBECONFIG=%s" % os.environ["KUBECONFIG"])
        return
    print("== bringing up the local Kubernetes (the first time builds it: 10-15 minutes)")
    subprocess.run([os.path.join(ROOT, "local-cluster", "cluster.sh"), "up"], check=True)
    os.environ["KUBECONFIG"] = os.path.join(STATE, "admin.kubeconfig")


def start_operator():
    pid_file = os.path.join(STATE, "run", "demo-operator.pid")
    if os.path.exists(pid_file):
        try:
            os.kill(int(open(pid_file).read()), 0)
            print("== operator already running (pid %s)" % open(pid_file).read().strip())
            return
        except (OSError, ValueError):
            pass
    env = dict(os.environ, WATCH_NAMESPACE=NAMESPACE)
    os.makedirs(os.path.dirname(pid_file), exist_ok=True)
    log_path = os.path.join(STATE, "logs", "demo-operator.log")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "a") as log:
        proc = subprocess.Popen(
            [os.path.join(ROOT, "hack", "run-operator.sh"),
             "--health-probe-bind-address", "127.0.0.1:0", "--metrics-bind-address", "0"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    with open(pid_file, "w") as handle:
        handle.write(str(proc.pid))
    print("== operator started (pid %d, log %s)" % (proc.pid, log_path))


def wait_ready(timeout=900):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        resource = json.loads(kubectl("get", "rediscluster", "demo", "-n", NAMESPACE,
                                      "-o", "json").stdout)
        conditions = {c["type"]: c for c in resource.get("status", {}).get("conditions", [])}
        ready = conditions.get("Ready", {})
        line = "%s: %s" % (ready.get("reason"), ready.get("message"))
        if line != last:
            print("   Ready=%s %s" % (ready.get("status"), line))
            last = line
        if ready.get("status") == "True" and conditions.get("Progressing", {}).get(
                "status") == "False":
            return resource
        time.sleep(3)
    sys.exit("the RedisCluster did not become Ready in %ds" % timeout)


def main():
    ensure_cluster()
    kubectl("apply", "-k", os.path.join(ROOT, "config", "crd"))
    kubectl("wait", "--for=condition=Established", "crd/redisclusters.redis.redisible.io")
    kubectl("create", "namespace", NAMESPACE, check=False)
    start_operator()
    with open(os.path.join(ROOT, "config", "samples", "redis_v1alpha1_rediscluster.yaml")) as f:
        cr = yaml.safe_load(f)
    cr["metadata"]["namespace"] = NAMESPACE
    kubectl("apply", "-f", "-", stdin=json.dumps(cr))
    print("== applied RedisCluster %s/demo (Redis %s, %d shards x %d replicas); waiting" % (
        NAMESPACE, cr["spec"]["version"], cr["spec"]["shards"], cr["spec"]["replicasPerShard"]))
    resource = wait_ready()
    print(kubectl("get", "rediscluster", "demo", "-n", NAMESPACE).stdout.rstrip())
    print("== topology")
    for shard in resource["status"]["shards"]:
        master = shard["master"]
        print("   shard %d: master %s %s slots %s (%d keys)" % (
            shard["shard"], master["pod"], master["ip"], master["slots"], master["keys"]))
        for replica in shard["replicas"]:
            print("            replica %s %s link %s" % (replica["pod"], replica["ip"],
                                                         replica["linkStatus"]))
    secret = json.loads(kubectl("get", "secret", "demo-password", "-n", NAMESPACE,
                                "-o", "json").stdout)
    password = base64.b64decode(secret["data"]["password"]).decode()
    client = RedisCluster(startup_nodes=[ClusterNode(s["master"]["ip"], 6379)
                                         for s in resource["status"]["shards"]],
                          password=password, socket_timeout=5)
    client.set("demo:hello", "world")
    print("== round trip through a cluster-aware client: demo:hello = %s"
          % client.get("demo:hello").decode())
    print("== the operator keeps running; `make demo-down` stops it and the local cluster")


if __name__ == "__main__":
    main()
