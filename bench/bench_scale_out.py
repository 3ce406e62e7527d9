#!/usr/bin/env python3
"""Scale-out benchmark: 3 -> 4 masters holding N keys of ~100 bytes, one machine, one run.

Each contender gets an identical fresh cluster (3 masters with the keys, a 4th empty master
already met and agreed on), and only the slot move is timed:
  - ours: redis_cluster_converge's slot mover (pipelined windows, parallel pairs);
  - redis-cli --cluster rebalance --cluster-use-empty-masters, default pipeline and 1000;
  - raw: a loop of MIGRATE ... KEYS batches of 10,000 keys between two cluster nodes, on slots
    holding 10,000 keys each: the practical MIGRATE limit, with no per-slot overhead to speak of.
Prints keys/s of each and our ratio to each.

    make bench                      # 1,000,000 keys, Redis 7.0
    BENCH_KEYS=200000 BENCH_VERSION=5.0 make bench
"""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ansible.module_utils.redisible_cluster_converge import converge  # noqa: E402
from redis.crc import key_slot  # noqa: E402
from redis_harness import PASSWORD, REDIS_CLI, ClusterPods  # noqa: E402

import harness  # noqa: E402,F401  (module_utils and the harness modules on the import path)

KEYS = int(os.environ.get("BENCH_KEYS", "1000000"))
ONLY = set(os.environ.get("BENCH_ONLY", "ours,cli,cli1000,raw").split(","))
MIGRATION = json.loads(os.environ.get("BENCH_MIGRATION", "{}"))  # converge tuning to try
VERSION = os.environ.get("BENCH_VERSION", "7.0")
VALUE = "v" * 100


def fresh_cluster():
    """3 masters with KEYS keys, plus a 4th empty master already in the cluster."""
    pods = ClusterPods(VERSION)
    pods.ensure(3, 0)
    converge(pods.specs(), 3, 0, password=PASSWORD, timeout=120)
    owners = {}
    for proc in pods.pods.values():
        text = proc.client().execute_command("CLUSTER", "NODES").decode()
        for line in text.splitlines():
            if "myself" in line:
                for item in line.split()[8:]:
                    first, _, last = item.partition("-")
                    for slot in range(int(first), int(last or first) + 1):
                        owners[slot] = proc
    pipes = {id(p): p.client().pipeline(transaction=False) for p in pods.pods.values()}
    counts = dict.fromkeys(pipes, 0)
    for index in range(KEYS):
        key = "key:%d" % index
        proc = owners[key_slot(key.encode())]
        pipes[id(proc)].set(key, VALUE)
        counts[id(proc)] += 1
        if counts[id(proc)] % 10000 == 0:
            pipes[id(proc)].execute()
    for pipe in pipes.values():
        pipe.execute()
    pods.ensure(4, 0)
    # Meet the 4th master by hand so that only the move is timed.
    new = pods.pods[(3, 0)]
    pods.pods[(0, 0)].client().execute_command("CLUSTER", "MEET", new.host, new.port)
    wait_cluster_ok(pods)
    return pods


def wait_cluster_ok(pods, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        views = set()
        ok = True
        for proc in pods.pods.values():
            client = proc.client()
            if b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                ok = False
            lines = client.execute_command("CLUSTER", "NODES").decode().splitlines()
            views.add(len(lines))
        if ok and views == {len(pods.pods)}:
            time.sleep(1)
            return
        time.sleep(0.2)
    raise RuntimeError("cluster did not settle")


def dbsize(pods):
    return sum(p.client().dbsize() for p in pods.pods.values())


def keys_on(proc):
    return proc.client().dbsize()


def run_ours(pods):
    started = time.time()
    result = converge(pods.specs(), 4, 0, password=PASSWORD, timeout=1800,
                      migration=MIGRATION)
    return time.time() - started, result["keys_moved"]


def run_redis_cli(pods, pipeline=None):
    env = dict(os.environ, REDISCLI_AUTH=PASSWORD)
    command = [REDIS_CLI, "--cluster", "rebalance", pods.pods[(0, 0)].address,
               "--cluster-use-empty-masters"]
    if pipeline:
        command += ["--cluster-pipeline", str(pipeline)]
    started = time.time()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.time() - started, keys_on(pods.pods[(3, 0)])


def run_raw_migrate(batch=10000, slots=20):
    """Slots of 10,000 keys each moved between two nodes with plain MIGRATE ... KEYS."""
    pods = ClusterPods(VERSION)
    try:
        pods.ensure(3, 0)
        converge(pods.specs(), 3, 0, password=PASSWORD, timeout=120)
        src = pods.pods[(0, 0)]
        dst = pods.pods[(1, 0)]
        ids = {p: p.client().execute_command("CLUSTER", "MYID").decode() for p in (src, dst)}
        tags = []
        tag = 0
        while len(tags) < slots:
            name = "t%d" % tag
            if key_slot(name.encode()) <= 5461:  # owned by shard 0
                tags.append(name)
            tag += 1
        client = src.client()
        pipe = client.pipeline(transaction=False)
        for name in tags:
            for index in range(batch):
                pipe.set("{%s}:%d" % (name, index), VALUE)
            pipe.execute()
        moved = 0
        started = time.time()
        for name in tags:
            slot = key_slot(name.encode())
            dst.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src])
            client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst])
            while True:
                keys = client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch)
                if not keys:
                    break
                client.execute_command("MIGRATE", dst.host, dst.port, "", 0, 60000, "AUTH",
                                       PASSWORD, "KEYS", *keys)
                moved += len(keys)
            for node in (dst, src):
                node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
        return time.time() - started, moved
    finally:
        pods.cleanup()


def measure(name, runner):
    pods = fresh_cluster()
    try:
        before = dbsize(pods)
        seconds, moved = runner(pods)
        after = dbsize(pods)
        assert before == after == KEYS, (before, after)
        rate = moved / seconds
        print("%-42s %8d keys in %6.2fs = %8.0f keys/s" % (name, moved, seconds, rate),
              flush=True)
        return rate
    finally:
        pods.cleanup()


def main():
    print("scale-out 3 -> 4 masters, %d keys of %d bytes, Redis %s, %d cores" % (
        KEYS, len(VALUE), VERSION, os.cpu_count()), flush=True)
    rates = {}
    if "ours" in ONLY:
        rates["ours"] = measure("ours (redis_cluster_converge)", run_ours)
    if "cli" in ONLY:
        rates["cli"] = measure("redis-cli rebalance (default pipeline)", run_redis_cli)
    if "cli1000" in ONLY:
        rates["cli1000"] = measure("redis-cli rebalance --cluster-pipeline 1000",
                                   lambda pods: run_redis_cli(pods, 1000))
    if "raw" in ONLY:
        seconds, moved = run_raw_migrate()
        rates["raw"] = moved / seconds
        print("%-42s %8d keys in %6.2fs = %8.0f keys/s" % (
            "raw MIGRATE KEYS x10000 (10k keys/slot)", moved, seconds, rates["raw"]))
    print()
    for other, label in (("cli", "redis-cli default"), ("cli1000", "redis-cli pipeline 1000"),
                         ("raw", "raw MIGRATE limit")):
        if "ours" in rates and other in rates:
            print("ours / %-24s = %.2fx" % (label, rates["ours"] / rates[other]))


if __name__ == "__main__":
    main()
