"""Backup and restore against real redis-server processes and a real S3-compatible server.

Round trips compare key for key: type, value and TTL of every key, for every data type.
"""

import hashlib
import os
import threading
import time

import pytest
from ansible.module_utils.redisible_backup import backup_instance
from ansible.module_utils.redisible_backup_store import DirectoryStore
from ansible.module_utils.redisible_cluster_converge import converge
from ansible.module_utils.redisible_rdb import BackupError, backups_to_prune
from ansible.module_utils.redisible_restore import restore_instance
from data_harness import assert_same_data, snapshot, write_every_type
from redis_harness import PASSWORD, ClusterPods, RedisProcess, server_binary, versions

pytestmark = pytest.mark.timeout(600)

# The servers that load backup files aside for key-by-key restores, by version: the restore
# picks the target's own.
SCRATCH = {v: server_binary(v) for v in versions()}


@pytest.fixture(params=versions())
def version(request):
    return request.param


@pytest.fixture
def cleanup():
    items = []
    yield items
    for item in items:
        item.cleanup()


def standalone(version, cleanup, replicas=0):
    """A master (pod name r-0) and optional replicas (r-1, ...), like the StatefulSet."""
    master = RedisProcess(version, cluster=False).start()
    cleanup.append(master)
    procs = [master]
    for _ in range(replicas):
        replica = RedisProcess(version, cluster=False,
                               extra=["replicaof %s %d" % (master.host, master.port)]).start()
        cleanup.append(replica)
        procs.append(replica)
    for replica in procs[1:]:
        wait_link_up(replica)
    return procs


def wait_link_up(proc):
    deadline = time.time() + 30
    while proc.client().info("replication").get("master_link_status") != "up":
        assert time.time() < deadline, "replica %s never synced" % proc.address
        time.sleep(0.05)


def pod_specs(procs, shard_of=None):
    return [{"name": "r-%d" % i, "host": p.host, "port": p.port,
             "shard": shard_of(p) if shard_of else 0} for i, p in enumerate(procs)]


def cluster(version, cleanup, shards, replicas):
    pods = ClusterPods(version)
    cleanup.append(pods)
    pods.ensure(shards, replicas)
    converge(pods.specs(), shards, replicas, password=PASSWORD, timeout=120)
    return pods


def cluster_masters(pods):
    return [p for p in pods.pods.values()
            if p.client().info("replication")["role"] == "master"]


def read_file(store, path):
    return b"".join(store.read_chunks(path))


# -- standalone ------------------------------------------------------------------------------

def test_standalone_round_trip_every_type(version, store, cleanup):
    source = standalone(version, cleanup, replicas=1)
    write_every_type(source[0].client(), "s")
    for db in (2, 5):  # keys outside database 0 come back in their database
        source[0].client(db=db).set("in-db-%d" % db, db)
    wait_replicated(source)
    before = {db: snapshot([source[0].client(db=db)]) for db in (0, 2, 5)}
    delay = source[1].client().config_get("repl-diskless-sync-delay")
    result = backup_instance(store, "b1", "Redis", "src", pod_specs(source), PASSWORD)
    manifest = result["manifest"]
    shard = manifest["shards"][0]
    assert shard["source"] == {"pod": "r-1", "role": "replica",
                               "masterOffset": shard["source"]["masterOffset"]}
    raw = read_file(store, "b1/shard-0.rdb")
    assert hashlib.sha256(raw).hexdigest() == shard["sha256"] and len(raw) == shard["bytes"]
    assert shard["databases"]["0"]["keys"] == len(before[0])
    assert shard["databases"]["0"]["exact"] is True
    assert manifest["keys"] == sum(len(b) for b in before.values())
    assert manifest["redisVersion"] == source[0].client().info("server")["redis_version"]

    target = standalone(version, cleanup)[0]
    target.client().set("left-over", "must go")  # restore replaces the data
    outcome = restore_instance(store, "b1", "Redis", pod_specs([target]), PASSWORD,
                               redis_server=SCRATCH)
    assert outcome["method"] == "replication"
    assert target.client().info("replication")["role"] == "master"
    # Settings the engine changes for a moment are back (5.0 runs at hz 1 until connected).
    assert target.client().config_get("hz")["hz"] == "10"
    assert source[1].client().config_get("repl-diskless-sync-delay") == delay
    for db in (0, 2, 5):
        assert_same_data(before[db], snapshot([target.client(db=db)]))
    target.client().set("writable", 1)  # a master again, not a read-only replica


def wait_replicated(procs):
    master = procs[0].client()
    offset = master.info("replication")["master_repl_offset"]
    for replica in procs[1:]:
        deadline = time.time() + 30
        while replica.client().info("replication").get("slave_repl_offset", -1) < offset:
            assert time.time() < deadline
            time.sleep(0.05)


def test_sentinel_shaped_restore_sends_keys_into_the_master(version, store, cleanup):
    source = standalone(version, cleanup, replicas=2)
    write_every_type(source[0].client(), "m")
    wait_replicated(source)
    before = snapshot([source[0].client()])
    backup_instance(store, "b1", "RedisSentinel", "src", pod_specs(source), PASSWORD)
    target = standalone(version, cleanup, replicas=1)
    outcome = restore_instance(store, "b1", "RedisSentinel", pod_specs(target), PASSWORD,
                               redis_server=SCRATCH)
    assert outcome["method"] == "keys"
    assert_same_data(before, snapshot([target[0].client()]))
    wait_replicated(target)  # the replica follows the restored master
    assert_same_data(before, snapshot([target[1].client()]))


def test_backup_under_a_writer_keeps_every_write_acknowledged_before_it(store, cleanup):
    version = versions()[-1]
    source = standalone(version, cleanup, replicas=1)
    client = source[0].client()
    acked_before = {}
    stop = threading.Event()
    started = threading.Event()
    marks = {}

    def writer():
        counter = 0
        while not stop.is_set():
            counter += 1
            key = "w:%d" % (counter % 5000)
            client.set(key, counter)
            if not started.is_set():
                acked_before[key] = counter
            else:
                marks.setdefault("after", counter)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(1.0)
    started.set()  # from here on, writes may or may not be in the snapshot
    backup_instance(store, "b1", "Redis", "src", pod_specs(source), PASSWORD)
    time.sleep(0.3)
    stop.set()
    thread.join(10)
    assert acked_before and marks.get("after")
    target = standalone(version, cleanup)[0]
    restore_instance(store, "b1", "Redis", pod_specs([target]), PASSWORD, redis_server=SCRATCH)
    restored = target.client()
    lost = {k: v for k, v in acked_before.items()
            if restored.get(k) is None or int(restored.get(k)) < v}
    assert not lost, "acknowledged before the backup, missing after restore: %s" % (
        list(lost.items())[:5],)


def test_backup_from_50_restores_into_70_and_a_70_backup_is_refused_by_50(store, cleanup):
    if not {"5.0", "7.0"} <= set(versions()):
        pytest.skip("needs Redis 5.0 and 7.0")
    old = standalone("5.0", cleanup)[0]
    write_every_type(old.client(), "old")
    before = snapshot([old.client()])
    backup_instance(store, "from50", "Redis", "old", pod_specs([old]), PASSWORD)
    new = standalone("7.0", cleanup)[0]
    restore_instance(store, "from50", "Redis", pod_specs([new]), PASSWORD, redis_server=SCRATCH)
    assert_same_data(before, snapshot([new.client()]))

    backup_instance(store, "from70", "Redis", "new", pod_specs([new]), PASSWORD)
    target = standalone("5.0", cleanup)[0]
    target.client().set("precious", "still here")
    with pytest.raises(BackupError) as refused:
        restore_instance(store, "from70", "Redis", pod_specs([target]), PASSWORD,
                         redis_server=SCRATCH)
    message = str(refused.value)
    assert "RDB format 10" in message and "reads RDB format 9 at most" in message
    assert "not touched" in message
    assert target.client().get("precious") == b"still here"
    assert target.client().info("replication")["role"] == "master"


@pytest.mark.parametrize("damage", ["flip-a-byte", "truncate", "delete", "no-manifest"])
def test_damaged_backup_is_refused_and_the_target_untouched(damage, tmp_path, cleanup):
    version = versions()[-1]
    store = DirectoryStore(str(tmp_path / "backups"))
    source = standalone(version, cleanup)[0]
    write_every_type(source.client(), "d", count=10)
    backup_instance(store, "b1", "Redis", "src", pod_specs([source]), PASSWORD)
    path = os.path.join(store.root, "b1", "shard-0.rdb")
    if damage == "flip-a-byte":
        with open(path, "r+b") as handle:
            handle.seek(os.path.getsize(path) // 2)
            byte = handle.read(1)
            handle.seek(-1, os.SEEK_CUR)
            handle.write(bytes([byte[0] ^ 0xFF]))
    elif damage == "truncate":
        with open(path, "r+b") as handle:
            handle.truncate(os.path.getsize(path) - 100)
    elif damage == "delete":
        os.unlink(path)
    else:
        os.unlink(os.path.join(store.root, "b1", "manifest.json"))
    target = standalone(version, cleanup)[0]
    write_every_type(target.client(), "keep", count=3)
    before = snapshot([target.client()])
    with pytest.raises(BackupError) as refused:
        restore_instance(store, "b1", "Redis", pod_specs([target]), PASSWORD,
                         redis_server=SCRATCH)
    expected = {"flip-a-byte": "SHA-256", "truncate": "truncated", "delete": "missing",
                "no-manifest": "manifest is missing"}[damage]
    assert expected in str(refused.value)
    assert_same_data(before, snapshot([target.client()]))


# -- cluster ---------------------------------------------------------------------------------

def test_cluster_backup_round_trip_same_shape_more_shards_and_standalone(version, store,
                                                                         cleanup):
    source = cluster(version, cleanup, 3, 1)
    write_every_type(source.cluster_client(), "c", count=30)
    masters = cluster_masters(source)
    for proc in source.pods.values():
        if proc not in masters:
            wait_link_up(proc)
    before = snapshot([m.client() for m in masters])
    result = backup_instance(store, "c1", "RedisCluster", "src", source.specs(), PASSWORD)
    manifest = result["manifest"]
    assert [s["index"] for s in manifest["shards"]] == [0, 1, 2]
    assert all(s["source"]["role"] == "replica" for s in manifest["shards"])
    covered = sum(last - first + 1 for s in manifest["shards"] for first, last in s["slots"])
    assert covered == 16384
    assert manifest["keys"] == len(before)

    for shards, kind in ((3, "RedisCluster"), (4, "RedisCluster")):
        target = cluster(version, cleanup, shards, 0)
        options = {"redis_server": SCRATCH}
        if shards == 4:
            # As in Kubernetes: files loaded into a loader pod of the target's image.
            loader = RedisProcess(version, cluster=False).start()
            cleanup.append(loader)
            options = {"redis_server": None, "loader": {
                "host": loader.host, "port": loader.port, "password": PASSWORD}}
        outcome = restore_instance(store, "c1", kind, target.specs(), PASSWORD, **options)
        assert outcome["keys"] == len(before)
        restored = snapshot([m.client() for m in cluster_masters(target)])
        assert_same_data(before, restored)
        # Every key sits on the master that owns its slot: reads through a cluster client.
        client = target.cluster_client()
        assert client.get("c:7:str") == b"value-7"
    single = standalone(version, cleanup)[0]
    restore_instance(store, "c1", "Redis", pod_specs([single]), PASSWORD, redis_server=SCRATCH)
    assert_same_data(before, snapshot([single.client()]))


def test_standalone_backup_with_several_databases_is_refused_by_a_cluster(tmp_path, cleanup):
    version = versions()[-1]
    store = DirectoryStore(str(tmp_path / "backups"))
    source = standalone(version, cleanup)[0]
    source.client().set("a", 1)
    source.client(db=3).set("b", 2)
    backup_instance(store, "b1", "Redis", "src", pod_specs([source]), PASSWORD)
    target = cluster(version, cleanup, 3, 0)
    with pytest.raises(BackupError) as refused:
        restore_instance(store, "b1", "RedisCluster", target.specs(), PASSWORD,
                         redis_server=SCRATCH)
    assert "database" in str(refused.value) and "not touched" in str(refused.value)


# -- the store -------------------------------------------------------------------------------

def test_retention_and_delete_remove_the_data(store, cleanup):
    version = versions()[-1]
    source = standalone(version, cleanup)[0]
    source.client().set("k", "v")
    for name in ("b1", "b2", "b3"):
        backup_instance(store, name, "Redis", "src", pod_specs([source]), PASSWORD)
    assert store.list_backups() == ["b1", "b2", "b3"]
    completed = [(n, i) for i, n in enumerate(store.list_backups())]
    for name in backups_to_prune(completed, keep_last=2):
        assert store.delete_backup(name)
    assert store.list_backups() == ["b2", "b3"]
    assert store.size("b1/shard-0.rdb") is None
    with pytest.raises(BackupError):
        backup_instance(store, "b2", "Redis", "src", pod_specs([source]), PASSWORD)


def test_unreachable_source_leaves_no_backup_behind(store, cleanup):
    version = versions()[-1]
    procs = standalone(version, cleanup, replicas=1)
    specs = pod_specs(procs)
    procs[1].kill()
    with pytest.raises(BackupError) as failed:
        backup_instance(store, "b1", "Redis", "src", specs, PASSWORD)
    assert "r-1" in str(failed.value)
    assert store.list_backups() == []


def test_wrong_password_is_a_clear_error(store, cleanup):
    source = standalone(versions()[-1], cleanup)[0]
    with pytest.raises(BackupError) as failed:
        backup_instance(store, "b1", "Redis", "src", pod_specs([source]), "wrong")
    message = str(failed.value)
    assert "r-0" in message and "password" in message.lower()
