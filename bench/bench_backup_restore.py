#!/usr/bin/env python3
"""Backup and restore benchmark: N keys of ~100 bytes in one Redis, one machine, one run.

Backup, each on the same loaded server:
  - baseline: `redis-cli --rdb` (SYNC over the replication protocol into a file), with
    repl-diskless-sync-delay 0 on the server;
  - ours: redis_backup's engine into a directory (stream + SHA-256 + manifest), same server;
  - ours again on a server left at 7.0's default delay (5 s): the engine sets 0 while it
    starts, so this must not be 5 s slower.
Restore of that backup, same shape:
  - baseline: a plain redis-server started on the RDB file, until it answers (loaded);
  - ours, into a new instance (what a RedisRestore that creates its target does): the file
    placed into the data directory of a server not started yet (manifest checks, SHA-256 on
    the way), released by the pods' restore-wait script, then the server started until it
    answers with every key;
  - ours, into a running server: manifest and SHA-256 checks, then the target loads the file
    as a replica of our feeder, then the key count check.
Prints times, throughput and our ratios (targets: backup >= 0.9x, restore <= 1.5x).

    make bench-backup                    # 1,000,000 keys, Redis 7.0
    BENCH_KEYS=200000 BENCH_VERSION=5.0 make bench-backup
"""

import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import redis  # noqa: E402
from ansible.module_utils.redisible_backup import backup_instance  # noqa: E402
from ansible.module_utils.redisible_backup_store import DirectoryStore  # noqa: E402
from ansible.module_utils.redisible_restore import place_backup, restore_instance  # noqa: E402
from redis_harness import (  # noqa: E402
    PASSWORD,
    REDIS_CLI,
    RedisProcess,
    restore_wait_script,
)

import harness  # noqa: E402,F401  (module_utils and the harness modules on the import path)

KEYS = int(os.environ.get("BENCH_KEYS", "1000000"))
VERSION = os.environ.get("BENCH_VERSION", "7.0")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SERVER = ["repl-diskless-sync yes", "appendonly no", 'save ""']


def load(proc):
    """KEYS keys with ~100-byte values that LZF cannot shrink much (like real payloads)."""
    rnd = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    blob = "".join(rnd.choice(alphabet) for _ in range(200000))
    pipe = proc.client().pipeline(transaction=False)
    for index in range(KEYS):
        offset = (index * 7919) % (len(blob) - 100)
        pipe.set("key:%d" % index, blob[offset:offset + 100])
        if index % 10000 == 9999:
            pipe.execute()
    pipe.execute()


def spec_of(proc):
    return [{"name": "bench-0", "host": proc.host, "port": proc.port, "shard": 0}]


def time_cli(proc, path):
    env = dict(os.environ, REDISCLI_AUTH=PASSWORD)
    started = time.time()
    subprocess.run([REDIS_CLI, "-h", proc.host, "-p", str(proc.port), "--rdb", path], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - started


def time_ours(proc, root, name):
    store = DirectoryStore(root)
    started = time.time()
    result = backup_instance(store, name, "Redis", "bench", spec_of(proc), PASSWORD)
    seconds = time.time() - started
    return seconds, result["manifest"]["totalBytes"], store


def start_until_loaded(workdir):
    proc = RedisProcess(VERSION, cluster=False, workdir=workdir, extra=SERVER).start()
    while True:
        try:
            if proc.client().dbsize() == KEYS:
                return proc
        except redis.BusyLoadingError:
            pass
        time.sleep(0.01)


def time_plain_load(rdb_path):
    workdir = tempfile.mkdtemp(prefix="bench-load-")
    shutil.copy(rdb_path, os.path.join(workdir, "dump.rdb"))
    started = time.time()
    start_until_loaded(workdir).cleanup()
    return time.time() - started


def time_our_placement(store, name, script):
    workdir = tempfile.mkdtemp(prefix="bench-place-")
    started = time.time()
    place_backup(store, name, [{"name": "bench-0", "shard": 0, "primary": True,
                                "store": DirectoryStore(workdir)}], "Redis", VERSION)
    subprocess.run(["sh", script, workdir, os.path.join(workdir, "no-flag"), "dump.rdb"],
                   check=True, stdout=subprocess.DEVNULL)
    start_until_loaded(workdir).cleanup()
    return time.time() - started


def time_our_restore(store, name):
    target = RedisProcess(VERSION, cluster=False, extra=SERVER).start()
    try:
        started = time.time()
        result = restore_instance(store, name, "Redis", spec_of(target), PASSWORD)
        seconds = time.time() - started
        assert result["keys"] == KEYS, result
        return seconds
    finally:
        target.cleanup()


def best(samples):
    return min(samples)


def main():
    print("backup/restore, %d keys of ~100 bytes, Redis %s, %d cores, best of %d" % (
        KEYS, VERSION, os.cpu_count(), ROUNDS), flush=True)
    work = tempfile.mkdtemp(prefix="bench-backup-")
    source = RedisProcess(VERSION, cluster=False,
                          extra=SERVER + ["repl-diskless-sync-delay 0"]).start()
    try:
        load(source)
        cli, ours = [], []
        size = 0
        for index in range(ROUNDS):
            cli.append(time_cli(source, os.path.join(work, "cli.rdb")))
            seconds, size, store = time_ours(source, os.path.join(work, "store"), "b%d" % index)
            ours.append(seconds)
        mib = size / 1048576.0
        print("%-44s %6.2fs  %6.1f MiB/s" % ("redis-cli --rdb", best(cli), mib / best(cli)))
        print("%-44s %6.2fs  %6.1f MiB/s  (%.1f MiB)" % ("ours (stream + SHA-256 + manifest)",
                                                        best(ours), mib / best(ours), mib))
        if VERSION >= "7.0":
            source.client().config_set("repl-diskless-sync-delay", 5)
            seconds, _, _ = time_ours(source, os.path.join(work, "store"), "delay5")
            assert source.client().config_get("repl-diskless-sync-delay")[
                "repl-diskless-sync-delay"] == "5", "the server's delay was not put back"
            print("%-44s %6.2fs" % ("ours, server at the 5 s default delay", seconds))
        plain = [time_plain_load(os.path.join(work, "cli.rdb")) for _ in range(ROUNDS)]
        script = restore_wait_script(work)
        placed = [time_our_placement(store, "b0", script) for _ in range(ROUNDS)]
        restore = [time_our_restore(store, "b0") for _ in range(ROUNDS)]
        print("%-44s %6.2fs" % ("plain redis-server load of the RDB", best(plain)))
        print("%-44s %6.2fs" % ("ours, new instance (place + start)", best(placed)))
        print("%-44s %6.2fs" % ("ours, running server (load as a replica)", best(restore)))
        print()
        print("backup  throughput ours / redis-cli --rdb = %.2fx (target >= 0.9)"
              % (best(cli) / best(ours)))
        print("restore time ours / plain load          = %.2fx (target <= 1.5; new instance)"
              % (best(placed) / best(plain)))
        print("restore into a running server / plain   = %.2fx" % (best(restore) / best(plain)))
    finally:
        source.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
