#!/usr/bin/env python3
"""The main job until the local Kubernetes lands: a Redis Cluster of real redis-server
processes on loopback, converged by our Ansible module through ansible-playbook, then grown
from 3 to 4 shards with its keys, with a write/read round trip through a cluster client.

    make demo                 # Redis 5.0, 3 shards x 1 replica, then 4 shards
    DEMO_VERSION=7.0 make demo
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from redis_harness import PASSWORD, ClusterPods, cluster_check, load_keys, missing_or_wrong  # noqa: E402

import harness  # noqa: E402,F401  (module_utils and the harness modules on the import path)


def converge(pods, shards, replicas):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"redis_pods": pods.specs(), "redis_shards": shards,
                   "redis_replicas_per_shard": replicas, "redis_password": PASSWORD}, handle)
    try:
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                        os.path.join(ROOT, "playbooks", "converge_local.yml"),
                        "-e", "@" + handle.name], cwd=ROOT, check=True)
    finally:
        os.unlink(handle.name)


def main():
    version = os.environ.get("DEMO_VERSION", "5.0")
    pods = ClusterPods(version)
    try:
        print("== starting 6 redis-server %s processes on loopback" % version)
        pods.ensure(3, 1)
        converge(pods, 3, 1)
        cluster = pods.cluster_client()
        data = load_keys(cluster, 20000, prefix="demo")
        print("== wrote %d keys; growing to 4 shards (slots move with their keys)" % len(data))
        pods.ensure(4, 1)
        converge(pods, 4, 1)
        cluster = pods.cluster_client()
        cluster.set("demo:hello", "world")
        print("== round trip through a cluster client: demo:hello = %s"
              % cluster.get("demo:hello").decode())
        bad = missing_or_wrong(cluster, data)
        ok, report = cluster_check(pods.any())
        print(report.splitlines()[0] if report else "")
        print("== redis-cli --cluster check: %s; keys lost or wrong: %d"
              % ("clean" if ok else "PROBLEMS", len(bad)))
        return 0 if ok and not bad else 1
    finally:
        pods.cleanup()


if __name__ == "__main__":
    sys.exit(main())
