"""Restore by placement against real redis-server processes: a backup's files go into the data
directories of a target that has not started, the pods' restore-wait script (the one the
StatefulSets run) hands each file to Redis, and the target starts with its data.

A cluster restored into the same number of shards: every master loads its shard's file and
claims the slots of its keys; the converge adds replicas and covers the empty slots."""

import os
import subprocess
import time

import pytest
from ansible.module_utils.redisible_backup import backup_instance
from ansible.module_utils.redisible_backup_store import DirectoryStore, open_store
from ansible.module_utils.redisible_cluster_converge import converge
from ansible.module_utils.redisible_placement import PLACED_FILE, RELEASE_MARKER
from ansible.module_utils.redisible_rdb import BackupError
from ansible.module_utils.redisible_replies import slot_ranges
from ansible.module_utils.redisible_restore import place_backup, verify_restore
from data_harness import assert_same_data, snapshot, write_every_type
from redis_harness import (
    PASSWORD,
    ClusterPods,
    RedisProcess,
    common_defaults,
    restore_wait_script,
    versions,
)
from test_backup_restore import cluster, cluster_masters, wait_link_up

pytestmark = pytest.mark.timeout(600)


def run_restore_wait(script, data_dir, pending, file_name):
    """The init container: returns once the pod may start (it must not block here)."""
    return subprocess.run(["sh", script, data_dir, pending, file_name], check=True,
                          timeout=10, capture_output=True, text=True).stdout


def test_names_shared_with_the_roles_are_spelled_once(tmp_path):
    """The pods' script reads the protocol's names from redisible_placement, not a copy."""
    assert not [k for k in common_defaults() if "placed" in k or "marker" in k]
    with open(restore_wait_script(tmp_path)) as handle:
        script = handle.read()
    assert '"$data/%s"' % PLACED_FILE in script and '"$data/%s"' % RELEASE_MARKER in script


def test_the_wait_outlives_the_exec_that_released_it(tmp_path):
    """In a pod the script is the container's first process, and its exit kills every process
    left in the container. The release is an exec into it whose rename makes the marker visible
    before that exec has ended: killed, it exits 137 and the restore reports a failed release
    (seen in CI). Here the script runs as the first process of its own PID namespace, and the
    exec is a process entering that namespace which goes on a moment after its rename."""
    script = restore_wait_script(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    pending = tmp_path / "pending"
    pending.write_text("")
    container = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "sh", script,
                                  str(data), str(pending), "dump.rdb"])
    try:
        children = "/proc/%d/task/%d/children" % (container.pid, container.pid)
        deadline = time.time() + 10
        first = ""
        while not first and time.time() < deadline:
            with open(children) as handle:
                first = handle.read().strip()
            time.sleep(0.05)
        assert first, "the script did not start"
        partial = data / "marker.partial"
        partial.write_text("{}")
        release = subprocess.run(
            ["nsenter", "--target", first, "--pid", "sh", "-c",
             'mv -f "$1" "$2" && sleep 2 && echo released', "sh", str(partial),
             str(data / RELEASE_MARKER)], capture_output=True, text=True, timeout=30)
        assert (release.returncode, release.stdout.strip()) == (0, "released"), release
        assert container.wait(timeout=30) == 0, "the pod did not start after its release"
    finally:
        if container.poll() is None:
            container.kill()
            container.wait()


class WaitingPods(object):
    """Data directories of a target created for a restore: pods that have not started."""

    def __init__(self, tmp_path, shards, replicas):
        self.dirs = {}
        for shard in range(shards):
            for ordinal in range(replicas + 1):
                path = tmp_path / ("c-shard-%d-%d" % (shard, ordinal))
                path.mkdir(parents=True)
                self.dirs[(shard, ordinal)] = str(path)

    def volumes(self):
        return [{"name": "c-shard-%d-%d" % key, "shard": key[0], "primary": key[1] == 0,
                 "store": DirectoryStore(path)} for key, path in sorted(self.dirs.items())]


@pytest.mark.parametrize("version,store_kind", [(v, "directory") for v in versions()] +
                         [("5.0", "s3")])
def test_cluster_placed_into_the_same_number_of_shards(version, store_kind, tmp_path, request):
    if store_kind == "s3":
        moto = request.getfixturevalue("moto")
        store = open_store(moto.storage(moto.new_bucket()))
    else:
        store = DirectoryStore(str(tmp_path / "backups"))
    cleanup = []
    try:
        source = cluster(version, cleanup, 3, 0)
        write_every_type(source.cluster_client(), "p", count=40)
        before = snapshot([m.client() for m in cluster_masters(source)])
        manifest = backup_instance(store, "b", "RedisCluster", "src", source.specs(),
                                   PASSWORD)["manifest"]

        waiting = WaitingPods(tmp_path, 3, 1)
        result = place_backup(store, "b", waiting.volumes(), "RedisCluster", version, "r1")
        assert result["method"] == "placement" and result["changed"]
        assert sorted(result["released"]) == sorted(v["name"] for v in waiting.volumes())
        # A second run (an interrupted reconcile) finds every pod released: nothing to do.
        again = place_backup(store, "b", waiting.volumes(), "RedisCluster", version, "r1")
        assert not again["changed"] and again["released"] == []

        script = restore_wait_script(tmp_path)
        pending = tmp_path / "restore-pending"
        pending.write_text("r1")
        target = ClusterPods(version)
        cleanup.append(target)
        for (shard, ordinal), path in sorted(waiting.dirs.items()):
            out = run_restore_wait(script, path, str(pending), "appendonly.aof")
            assert ("placed as appendonly.aof" in out) == (ordinal == 0), out
            target.pods[(shard, ordinal)] = RedisProcess(
                version, workdir=path, extra=["appendonly yes"]).start()
        # Each master claims the slots of the keys it loaded, nothing else yet.
        for shard in range(3):
            loaded = target.pods[(shard, 0)].client()
            assert loaded.dbsize() == manifest["shards"][shard]["keys"]
            assert target.pods[(shard, 1)].client().dbsize() == 0

        converge(target.specs(), 3, 1, password=PASSWORD, timeout=120)
        masters = cluster_masters(target)
        assert sorted(m.workdir for m in masters) == sorted(
            waiting.dirs[(s, 0)] for s in range(3))
        assert_same_data(before, snapshot([m.client() for m in masters]))
        # Every shard serves the slots it served in the backup: nothing moved.
        for shard in range(3):
            node = target.pods[(shard, 0)].client().execute_command("CLUSTER", "MYID")
            nodes = target.pods[(shard, 0)].client().execute_command("CLUSTER", "SLOTS")
            served = [[r[0], r[1]] for r in nodes if r[2][2] == node]
            assert slot_ranges(sorted(s for a, b in served for s in range(a, b + 1))) == \
                manifest["shards"][shard]["slots"], shard
            wait_link_up(target.pods[(shard, 1)])
        assert target.cluster_client().get("p:7:str") == b"value-7"
        assert verify_restore(store, "b", "RedisCluster", target.specs(), PASSWORD) == \
            len(before)
    finally:
        for item in cleanup:
            item.cleanup()


def test_standalone_placed_with_rdb_persistence_across_versions(tmp_path):
    store = DirectoryStore(str(tmp_path / "backups"))
    cleanup = []
    try:
        source = RedisProcess("5.0", cluster=False).start()
        cleanup.append(source)
        write_every_type(source.client(), "s", count=20)
        before = snapshot([source.client()])
        backup_instance(store, "b", "Redis", "src", [
            {"name": "r-0", "host": source.host, "port": source.port}], PASSWORD)
        data = tmp_path / "r-0"
        data.mkdir()
        volumes = [{"name": "r-0", "shard": 0, "primary": True,
                    "store": DirectoryStore(str(data))}]
        place_backup(store, "b", volumes, "Redis", "7.0")
        out = run_restore_wait(restore_wait_script(tmp_path), str(data), str(tmp_path / "none"),
                               "dump.rdb")
        assert "placed as dump.rdb" in out
        target = RedisProcess("7.0", cluster=False, workdir=str(data)).start()
        cleanup.append(target)
        assert_same_data(before, snapshot([target.client()]))
    finally:
        for item in cleanup:
            item.cleanup()


def test_a_damaged_file_releases_nothing_and_leaves_nothing_to_load(tmp_path):
    cleanup = []
    store = DirectoryStore(str(tmp_path / "backups"))
    try:
        source = cluster("7.0", cleanup, 3, 0)
        write_every_type(source.cluster_client(), "d", count=10)
        manifest = backup_instance(store, "b", "RedisCluster", "src", source.specs(),
                                   PASSWORD)["manifest"]
        path = os.path.join(store.describe("b"), manifest["shards"][2]["file"])
        with open(path, "r+b") as handle:
            handle.seek(manifest["shards"][2]["bytes"] // 2)
            byte = handle.read(1)
            handle.seek(-1, 1)
            handle.write(bytes([byte[0] ^ 0xFF]))
        waiting = WaitingPods(tmp_path, 3, 0)
        with pytest.raises(BackupError) as refused:
            place_backup(store, "b", waiting.volumes(), "RedisCluster", "7.0", "r1")
        assert "shard-2" in str(refused.value) and "nothing was released" in str(refused.value)
        for path in waiting.dirs.values():
            assert os.listdir(path) == [], "a damaged restore left files behind"

        # A truncated file: refused before any volume is written.
        cut = os.path.join(store.describe("b"), manifest["shards"][1]["file"])
        with open(cut, "rb") as handle:
            whole = handle.read()
        with open(cut, "wb") as handle:
            handle.write(whole[:-100])
        with pytest.raises(BackupError) as refused:
            place_backup(store, "b", waiting.volumes(), "RedisCluster", "7.0", "r1")
        assert "truncated" in str(refused.value) and "not touched" in str(refused.value)
        assert all(not os.listdir(path) for path in waiting.dirs.values())
        with open(cut, "wb") as handle:
            handle.write(whole)

        # A format the target cannot read: refused before any volume is written.
        with pytest.raises(BackupError) as refused:
            place_backup(store, "b", waiting.volumes(), "RedisCluster", "6.2")
        assert "RDB format 10" in str(refused.value) and "not touched" in str(refused.value)
        assert all(not os.listdir(path) for path in waiting.dirs.values())

        # Another shape: every pod released empty, the caller loads key by key.
        four = WaitingPods(tmp_path / "four", 4, 0)
        result = place_backup(store, "b", four.volumes(), "RedisCluster", "7.0")
        assert result["method"] == "keys" and len(result["released"]) == 4
        assert all(os.listdir(path) == [RELEASE_MARKER] for path in four.dirs.values())
    finally:
        for item in cleanup:
            item.cleanup()
