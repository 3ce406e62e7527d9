"""Cluster converge against real redis-server processes of every supported version."""

import multiprocessing
import os
import threading
import time

import pytest
from ansible.module_utils.redisible_cluster_converge import ConvergeError, converge
from ansible.module_utils.redisible_replies import SLOT_COUNT
from redis.crc import key_slot
from redis_harness import (
    PASSWORD,
    ClusterPods,
    Writer,
    cluster_check,
    load_keys,
    missing_or_wrong,
    versions,
    wait_flagged_failed,
)

pytestmark = pytest.mark.timeout(600)

WRITE_COMMANDS = {"cluster|meet", "cluster|setslot", "cluster|addslots", "cluster|replicate",
                  "cluster|forget", "cluster|failover", "cluster|reset", "cluster|delslots",
                  "cluster|set-config-epoch", "migrate", "restore-asking", "config|set",
                  "flushall", "set", "del"}


@pytest.fixture(params=versions())
def version(request):
    return request.param


@pytest.fixture
def pods(version):
    cluster = ClusterPods(version)
    yield cluster
    cluster.cleanup()


def run(pods, shards, replicas, **kw):
    return converge(pods.specs(), shards, replicas, password=PASSWORD, timeout=120, **kw)


def assert_healthy(pods, shards, replicas):
    ok, text = cluster_check(pods.any())
    assert ok, text
    counts = []
    for proc in pods.pods.values():
        info = proc.client().execute_command("CLUSTER", "INFO").decode()
        assert "cluster_state:ok" in info, (proc.address, info)
    topology = run(pods, shards, replicas, check_mode=True)["topology"]
    assert len(topology) == shards
    for entry in topology:
        assert entry["master"] is not None
        assert len(entry["replicas"]) == replicas, entry
        for replica in entry["replicas"]:
            assert replica["masterId"] == entry["master"]["nodeId"]
        counts.append(entry["master"]["slotCount"])
    assert sum(counts) == SLOT_COUNT
    assert max(counts) - min(counts) <= 1, counts


class Monitor(object):
    """MONITOR on every pod: the exact commands a converge sent, by name."""

    def __init__(self, pods):
        self.commands = []
        self.threads = []
        self.monitors = []
        # A replica's MONITOR also shows its master's replication stream; those commands come
        # from another pod's address, ours from ephemeral ports.
        self.pod_addresses = set(p.address for p in pods.pods.values())
        for proc in pods.pods.values():
            monitor = proc.client().monitor()
            monitor.__enter__()
            self.monitors.append(monitor)
            thread = threading.Thread(target=self._collect, args=(monitor,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _collect(self, monitor):
        try:
            for event in monitor.listen():
                if "%s:%s" % (event.get("client_address"), event.get("client_port")) in \
                        self.pod_addresses:
                    continue
                parts = event["command"].split(" ")
                name = parts[0].lower().strip('"')
                if name in ("cluster", "config") and len(parts) > 1:
                    name = name + "|" + parts[1].lower().strip('"')
                self.commands.append(name)
        except Exception:
            return

    def stop(self):
        time.sleep(0.3)
        for monitor in self.monitors:
            try:
                monitor.connection.disconnect()
            except Exception:
                pass
        return self.commands


# a. create -----------------------------------------------------------------------------------

def test_create_three_shards_one_replica(pods):
    pods.ensure(3, 1)
    result = run(pods, 3, 1)
    assert result["changed"]
    assert result["cluster_ok"]
    assert_healthy(pods, 3, 1)
    # Each shard's replica is a pod of the same StatefulSet.
    for entry in result["topology"]:
        shard = entry["shard"]
        assert entry["master"]["pod"].startswith("c-shard-%d-" % shard)
        assert all(r["pod"].startswith("c-shard-%d-" % shard) for r in entry["replicas"])


# b + c. scale out and in under a writer ----------------------------------------------------

def test_scale_out_and_in_with_writer_loses_nothing(pods):
    pods.ensure(3, 1)
    run(pods, 3, 1)
    cluster = pods.cluster_client()
    data = load_keys(cluster, 200000)
    writer = Writer(pods.cluster_client())
    writer.start()
    time.sleep(0.5)
    try:
        pods.ensure(5, 1)
        result = run(pods, 5, 1)
        assert result["slots_moved"] == 6553
        assert result["keys_moved"] > 70000
        assert_healthy(pods, 5, 1)

        result = run(pods, 3, 1)
        assert result["slots_moved"] == 6553
        assert any("removed c-shard-4-0" in a for a in result["actions"])
        pods.drop(3, 1)
        assert_healthy(pods, 3, 1)
        time.sleep(0.5)
    finally:
        writer.stop()
    cluster = pods.cluster_client()
    assert writer.ops > 100, "the writer barely ran"
    assert writer.verify(cluster) == {}
    assert writer.read_mismatches == []
    assert missing_or_wrong(cluster, data) == {}


# d. replicas per shard 1 -> 2 -> 0 -> 1 ------------------------------------------------------

def test_replicas_per_shard_up_down_up(pods):
    pods.ensure(3, 1)
    run(pods, 3, 1)
    data = load_keys(pods.cluster_client(), 20000)
    pods.ensure(3, 2)
    run(pods, 3, 2)
    assert_healthy(pods, 3, 2)
    result = run(pods, 3, 0)
    assert result["slots_moved"] == 0
    pods.drop(3, 0)
    assert_healthy(pods, 3, 0)
    pods.ensure(3, 1)
    run(pods, 3, 1)
    assert_healthy(pods, 3, 1)
    assert missing_or_wrong(pods.cluster_client(), data) == {}


def test_replica_scale_down_hands_over_from_a_leaving_master(pods):
    """The master sits at the ordinal that goes away: a kept replica takes over first."""
    pods.ensure(3, 1)
    run(pods, 3, 1)
    data = load_keys(pods.cluster_client(), 20000)
    # Make ordinal 1 of shard 0 the master, as after a real failover.
    replica = pods.pods[(0, 1)].client()
    replica.execute_command("CLUSTER", "FAILOVER")
    deadline = time.time() + 30
    while replica.info("replication")["role"] != "master" and time.time() < deadline:
        time.sleep(0.1)
    result = run(pods, 3, 0)
    assert any("failover: promote c-shard-0-0" in a for a in result["actions"])
    pods.drop(3, 0)
    assert_healthy(pods, 3, 0)
    assert missing_or_wrong(pods.cluster_client(), data) == {}


# e. crashes in the middle of a migration ----------------------------------------------------

def _wait_for(predicate, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def _open_slots(pods):
    found = 0
    for proc in pods.pods.values():
        try:
            text = proc.client().execute_command("CLUSTER", "NODES").decode()
        except Exception:
            continue
        found += text.count("->-") + text.count("-<-")
    return found


def test_master_killed_mid_migration_is_repaired(pods):
    pods.ensure(3, 1)
    run(pods, 3, 1)
    data = load_keys(pods.cluster_client(), 60000)
    pods.ensure(4, 1)
    # Slow, small windows so the kill lands mid-migration.
    failure = {}

    def scale():
        try:
            run(pods, 4, 1, migration={"window_slots": 4, "window_keys": 40, "parallel": 1})
        except ConvergeError as exc:
            failure["error"] = str(exc)

    thread = threading.Thread(target=scale)
    thread.start()
    _wait_for(lambda: _open_slots(pods) > 0, what="a slot to open")
    time.sleep(0.3)
    source = pods.pods[(0, 0)]
    source.kill()
    thread.join(180)
    assert "error" in failure, "the converge should fail when its source dies"
    # The replica takes over (cluster-node-timeout 2s); then the pod comes back, as kubelet
    # would restart it, and rejoins as a replica of its successor.
    promoted = pods.pods[(0, 1)].client()
    _wait_for(lambda: promoted.info("replication")["role"] == "master",
              what="failover of shard 0")
    source.start()
    result = run(pods, 4, 1)
    assert result["changed"]
    assert _open_slots(pods) == 0
    assert_healthy(pods, 4, 1)
    assert missing_or_wrong(pods.cluster_client(), data) == {}


def _converge_in_child(specs, shards, replicas):
    import conftest  # noqa: F401  (module_utils path in the child)
    converge(specs, shards, replicas, password=PASSWORD, timeout=300,
             migration={"window_slots": 2, "window_keys": 20, "parallel": 1})


def test_converger_killed_mid_migration_is_resumed(pods):
    pods.ensure(3, 1)
    run(pods, 3, 1)
    data = load_keys(pods.cluster_client(), 60000)
    writer = Writer(pods.cluster_client())
    writer.start()
    try:
        pods.ensure(4, 1)
        child = multiprocessing.get_context("fork").Process(
            target=_converge_in_child, args=(pods.specs(), 4, 1))
        child.start()
        _wait_for(lambda: _open_slots(pods) > 0, what="a slot to open")
        time.sleep(1.0)
        child.kill()
        child.join()
        result = run(pods, 4, 1)
        assert result["changed"]
        assert _open_slots(pods) == 0
        assert_healthy(pods, 4, 1)
    finally:
        writer.stop()
    cluster = pods.cluster_client()
    assert writer.verify(cluster) == {}
    assert missing_or_wrong(cluster, data) == {}


# f. every pod back on a new address ---------------------------------------------------------

def test_all_pods_restart_on_new_addresses(pods, version):
    pods.ensure(3, 1)
    run(pods, 3, 1)
    data = load_keys(pods.cluster_client(), 30000)
    for proc in pods.pods.values():
        proc.client().execute_command("SAVE")  # the PVC keeps data and nodes.conf
    for proc in pods.pods.values():
        proc.stop()
    for index, proc in enumerate(pods.pods.values()):
        proc.restart(host="127.0.0.%d" % (20 + index))
    result = run(pods, 3, 1)
    assert any(a.startswith("meet") for a in result["actions"])
    assert_healthy(pods, 3, 1)
    assert missing_or_wrong(pods.cluster_client(), data) == {}


# f2. a node comes back without its volume ----------------------------------------------------

def test_lost_shard_is_reported_never_covered_until_the_loss_is_accepted(pods):
    pods.ensure(3, 0)
    run(pods, 3, 0)
    data = load_keys(pods.cluster_client(), 30000)
    lost_proc = pods.pods[(2, 0)]
    old_id = lost_proc.node_id()
    lost_keys = set(k for k in data if key_slot(k.encode()) >= 10923)
    lost_proc.lose_volume()
    wait_flagged_failed(pods, old_id)
    result = run(pods, 3, 0)
    assert [(e["nodeId"], e["shard"], e["slots"]) for e in result["lost_slots"]] == [
        (old_id, 2, "10923-16383")]
    assert "only copy was on node %s" % old_id in result["lost_messages"][0]
    assert not result["cluster_ok"]
    # Nothing covered the lost slots; the surviving shards still hold every key of theirs.
    assert lost_proc.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", 16000) == 0
    assert not any("10923" in line for line in lost_proc.client().execute_command(
        "CLUSTER", "NODES").decode().splitlines() if "myself" in line)
    survivors = sum(pods.pods[(i, 0)].client().dbsize() for i in (0, 1))
    assert survivors == len(data) - len(lost_keys)
    # A second converge says the same and writes nothing.
    again = run(pods, 3, 0)
    assert again["lost_slots"] == result["lost_slots"] and not again["changed"]
    # The user accepts the loss: the empty node covers the slots, the cluster serves again.
    accepted = run(pods, 3, 0, accepted_losses=[old_id[:8]])
    assert [e["nodeId"] for e in accepted["accepted_losses"]] == [old_id]
    assert accepted["lost_slots"] == []
    assert_healthy(pods, 3, 0)
    assert set(missing_or_wrong(pods.cluster_client(), data)) == lost_keys


def test_master_back_without_its_volume_never_takes_its_replicas_data(pods):
    pods.ensure(3, 1)
    run(pods, 3, 1)
    data = load_keys(pods.cluster_client(), 30000)
    topology = run(pods, 3, 1, check_mode=True)["topology"]
    master_pod = topology[2]["master"]["pod"]
    proc = pods.pods[(2, int(master_pod.rsplit("-", 1)[1]))]
    old_id = proc.node_id()
    heir = pods.pods[(2, 1 - int(master_pod.rsplit("-", 1)[1]))]
    # The premise: the replica holds every key (the master waits for its acknowledgement).
    deadline = time.time() + 30
    while heir.client().dbsize() != proc.client().dbsize() and time.time() < deadline:
        proc.client().execute_command("WAIT", 1, 1000)
    assert heir.client().dbsize() == proc.client().dbsize() > 0
    # On a new address, as a re-created pod: on the same one, the replica's replication link
    # reaches the empty new node before anything else can act (see docs/data-safety.md).
    proc.lose_volume(host="127.0.0.42")
    wait_flagged_failed(pods, old_id)
    result = run(pods, 3, 1)
    assert result["lost_slots"] == []
    assert_healthy(pods, 3, 1)
    assert missing_or_wrong(pods.cluster_client(), data) == {}
    shard = run(pods, 3, 1, check_mode=True)["topology"][2]
    assert shard["master"]["pod"] != master_pod


# g. idempotency: nothing written the second time ---------------------------------------------

def test_second_converge_changes_nothing_and_writes_nothing(pods):
    pods.ensure(3, 1)
    run(pods, 3, 1)
    monitor = Monitor(pods)
    result = run(pods, 3, 1)
    commands = monitor.stop()
    assert result["changed"] is False
    assert result["actions"] == []
    assert commands, "MONITOR saw nothing: the observation is not being watched"
    assert not set(commands) & WRITE_COMMANDS, sorted(set(commands))


# h. check mode reports and changes nothing ---------------------------------------------------

def test_check_mode_reports_and_changes_nothing(pods):
    pods.ensure(3, 1)
    check = run(pods, 3, 1, check_mode=True)
    assert check["changed"] and any(a.startswith("meet") for a in check["actions"])
    assert all(p.client().execute_command("CLUSTER", "INFO").decode().count(
        "cluster_known_nodes:1") for p in pods.pods.values())
    run(pods, 3, 1)
    load_keys(pods.cluster_client(), 10000)
    pods.ensure(4, 1)
    before = _settled_views(pods)
    monitor = Monitor(pods)
    check = run(pods, 4, 1, check_mode=True)
    commands = monitor.stop()
    assert check["changed"]
    assert any(a.startswith("move ") for a in check["actions"]), check["actions"]
    assert not set(commands) & WRITE_COMMANDS, sorted(set(commands))
    after = {p.address: p.client().execute_command("CLUSTER", "NODES") for p in
             pods.pods.values()}
    before, after = _strip_volatile(before), _strip_volatile(after)
    changed = {address: sorted(set(before[address]) ^ set(after[address]))
               for address in before if before[address] != after[address]}
    assert not changed, changed


def _settled_views(pods, quiet=3.0, timeout=60):
    """CLUSTER NODES of every pod once gossip has settled (no view changed for `quiet`
    seconds). The epoch others show for a replica is its master's, learnt a few pings after the
    last converge (seconds on Redis 5.0 under CI load): gossip, not a write."""
    deadline = time.monotonic() + timeout
    views = stripped = None
    since = time.monotonic()
    while True:
        current = {p.address: p.client().execute_command("CLUSTER", "NODES") for p in
                   pods.pods.values()}
        current_stripped = _strip_volatile(current)
        if current_stripped != stripped:
            views, stripped, since = current, current_stripped, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return views
        assert time.monotonic() < deadline, "CLUSTER NODES never stopped changing"
        time.sleep(0.25)


def _strip_volatile(views):
    """CLUSTER NODES without ping/pong times, link state and the local `fail?` suspicion (a
    node late with a pong under CI load is flagged for a moment; nobody wrote that)."""
    out = {}
    for address, text in views.items():
        lines = []
        for line in text.decode().splitlines():
            fields = line.split(" ")
            fields[2] = ",".join(f for f in fields[2].split(",") if f != "fail?")
            lines.append(" ".join(fields[:4] + fields[6:7] + fields[8:]))
        out[address] = sorted(lines)
    return out


def test_unreachable_pod_fails_with_a_clear_message(pods):
    pods.ensure(3, 0)
    specs = pods.specs()
    specs[1]["port"] = 1  # nothing listens there
    with pytest.raises(ConvergeError) as caught:
        converge(specs, 3, 0, password=PASSWORD, timeout=10)
    assert "not reachable" in str(caught.value) and specs[1]["name"] in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_wrong_password_fails_without_leaking_it(pods):
    pods.ensure(3, 0)
    with pytest.raises(ConvergeError) as caught:
        converge(pods.specs(), 3, 0, password="not-the-password", timeout=10)
    assert "not-the-password" not in str(caught.value)
    assert "not reachable" in str(caught.value)


def test_big_keys_move_intact(pods):
    """A 16 MiB string and a 200,000-field hash ride along with ordinary keys."""
    pods.ensure(3, 0)
    run(pods, 3, 0)
    cluster = pods.cluster_client()
    # Hash tags in slots 3300-5400: shard 0 hands exactly those to a new shard on 3 -> 5.
    tags = [t for t in ("t%d" % i for i in range(5000)) if 3300 <= key_slot(t.encode()) <= 5400]
    string_key, hash_key = "big:{%s}:string" % tags[0], "big:{%s}:hash" % tags[1]
    big_value = os.urandom(8 * 1024 * 1024).hex()  # 16 MiB of text
    cluster.set(string_key, big_value)
    fields = {"f%d" % i: "v%d" % i for i in range(200000)}
    pipe = cluster.pipeline()
    items = list(fields.items())
    for start in range(0, len(items), 20000):
        pipe.hset(hash_key, mapping=dict(items[start:start + 20000]))
    pipe.execute()
    data = load_keys(cluster, 20000)
    pods.ensure(5, 0)
    result = run(pods, 5, 0)
    assert result["slots_moved"] > 0
    cluster = pods.cluster_client()
    owner = pods.pods[(0, 0)].client()
    for key in (string_key, hash_key):
        left = owner.execute_command("CLUSTER", "COUNTKEYSINSLOT", key_slot(key.encode()))
        assert left == 0, "%s did not move" % key
    assert cluster.get(string_key).decode() == big_value
    assert cluster.hlen(hash_key) == len(fields)
    assert cluster.hget(hash_key, "f199999") == b"v199999"
    assert missing_or_wrong(cluster, data) == {}
    assert_healthy(pods, 5, 0)
