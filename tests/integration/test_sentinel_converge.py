"""Sentinel converge against real redis-server and real sentinel processes of every version."""

import os
import shutil
import threading
import time

import pytest
import redis
from ansible.module_utils.redisible_replies import pairs_to_dict
from ansible.module_utils.redisible_sentinel_converge import SentinelConvergeError
from redis_harness import PASSWORD, versions
from sentinel_harness import MASTER_NAME, SentinelDeployment, SentinelWriter

pytestmark = pytest.mark.timeout(600)

REDIS_WRITES = {"replicaof", "slaveof", "config|set", "flushall", "flushdb", "set", "del"}


@pytest.fixture(params=versions())
def version(request):
    return request.param


@pytest.fixture
def deployment(version, request):
    made = SentinelDeployment(version, redis_count=3, sentinel_count=3)
    yield made
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(made.logs())  # shown with the failure: what the sentinels decided and when
    made.cleanup()


def assert_healthy(deployment, replicas):
    """The outside judges: INFO on every pod, SENTINEL on every sentinel."""
    master = deployment.master()
    info = master.client().info("replication")
    assert info["role"] == "master"
    assert info["connected_slaves"] == replicas - 1, info
    addresses = set(p.address for p in deployment.pods.values())
    for pod in deployment.pods.values():
        if pod is master:
            continue
        info = pod.client().info("replication")
        assert info["role"] == "slave" and info["master_link_status"] == "up", (pod.address, info)
        assert "%s:%s" % (info["master_host"], info["master_port"]) == master.address
    sentinel_addresses = set(s.address for s in deployment.sentinels)
    for sentinel in deployment.sentinels:
        client = sentinel.client()
        view = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        assert "%s:%s" % tuple(view) == master.address
        known = set("%s:%s" % (r["ip"], r["port"]) for r in map(
            pairs_to_dict, client.execute_command("SENTINEL", "SLAVES", MASTER_NAME)))
        assert known == addresses - {master.address}, (sentinel.address, known)
        peers = set("%s:%s" % (s["ip"], s["port"]) for s in map(
            pairs_to_dict, client.execute_command("SENTINEL", "SENTINELS", MASTER_NAME)))
        assert peers == sentinel_addresses - {sentinel.address}, (sentinel.address, peers)
    return master


def load(client, count, prefix="k"):
    pipe = client.pipeline(transaction=False)
    for index in range(count):
        pipe.set("%s:%d" % (prefix, index), index)
    pipe.execute()


def wait_until(predicate, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def wait_synced(deployment):
    master = deployment.master()
    target = master.client().info("replication")["master_repl_offset"]

    def synced():
        for pod in deployment.pods.values():
            if pod is not master:
                info = pod.client().info("replication")
                if info.get("master_link_status") != "up" or info["slave_repl_offset"] < target:
                    return False
        return True
    wait_until(synced, 30, "replicas in sync")


class Monitor(object):
    """MONITOR on every Redis pod: the write commands a converge sent (replication traffic from
    the master shows up on replicas from the master's address, which is ignored)."""

    def __init__(self, deployment):
        self.commands = []
        self.monitors = []
        self.pod_hosts = set(p.host for p in deployment.pods.values())
        for pod in deployment.pods.values():
            monitor = pod.client().monitor()
            monitor.__enter__()
            self.monitors.append(monitor)
            threading.Thread(target=self._collect, args=(monitor,), daemon=True).start()
        time.sleep(0.3)

    def _collect(self, monitor):
        try:
            for event in monitor.listen():
                if event["client_address"] not in self.pod_hosts:
                    self.commands.append(event["command"])
        except Exception:
            return

    def writes(self):
        found = []
        for command in self.commands:
            words = command.lower().split()
            name = words[0].strip('"') if words else ""
            sub = words[1].strip('"') if len(words) > 1 else ""
            if name in REDIS_WRITES or "%s|%s" % (name, sub) in REDIS_WRITES:
                found.append(command)
        return found

    def close(self):
        time.sleep(0.3)
        for monitor in self.monitors:
            try:
                monitor.connection.disconnect()
            except Exception:
                pass


def test_a_bootstrap_one_master_two_replicas_three_sentinels(deployment):
    result = deployment.converge()
    assert result["changed"]
    master = assert_healthy(deployment, 3)
    assert master.ordinal == 0  # nothing had data: the first pod
    assert result["topology"]["master"]["pod"] == "s-redis-0"
    assert [r["linkStatus"] for r in result["topology"]["replicas"]] == ["up", "up"]
    assert all(s["master"] == master.address for s in result["topology"]["sentinels"])
    # A sentinel-aware client finds the master and its writes reach the replicas.
    sentinel = redis.sentinel.Sentinel([(s.host, s.port) for s in deployment.sentinels],
                                       sentinel_kwargs={"password": PASSWORD},
                                       password=PASSWORD, socket_timeout=5)
    sentinel.master_for(MASTER_NAME).set("hello", "world")
    wait_synced(deployment)
    for pod in deployment.pods.values():
        assert pod.client().get("hello") == b"world"


def test_b_check_mode_and_idempotency(deployment):
    planned = deployment.converge(check_mode=True)
    assert planned["changed"] and planned["actions"]
    assert any("promote s-redis-0" in a for a in planned["actions"])
    # Check mode touched nothing: every pod still parked, no sentinel monitors anything.
    for pod in deployment.pods.values():
        assert pod.client().info("replication")["role"] == "slave"
    for sentinel in deployment.sentinels:
        with pytest.raises(redis.ResponseError):
            sentinel.client().execute_command("SENTINEL", "MASTER", MASTER_NAME)
    deployment.converge()
    monitor = Monitor(deployment)
    try:
        again = deployment.converge()
        assert not again["changed"] and again["actions"] == []
        assert not deployment.converge(check_mode=True)["changed"]
    finally:
        monitor.close()
    assert monitor.writes() == []


def test_c_master_killed_sentinels_fail_over_and_no_acknowledged_write_is_lost(deployment):
    deployment.converge()
    old = deployment.master()
    load(old.client(), 5000)
    writer = SentinelWriter(deployment)
    writer.start()
    time.sleep(1.5)
    old.kill()
    wait_until(lambda: deployment.discover() != (old.host, old.port), 60, "a failover")
    time.sleep(1)
    new = deployment.master()
    assert new is not old
    # The old master comes back (same data, same address), parked: it must follow the new one.
    old.start()
    result = deployment.converge()
    writer.stop()
    assert writer.ops > 100
    master = assert_healthy(deployment, 3)
    assert master is new
    assert old.client().info("replication")["role"] == "slave"
    wait_synced(deployment)
    assert writer.verify(master.client(), lost_addresses={old.address}) == {}
    assert master.client().dbsize() >= 5000
    assert result["topology"]["master"]["pod"] == "s-redis-%d" % new.ordinal


def test_d_restarted_empty_master_never_wipes_its_replicas(deployment):
    """kill -9 the master, wipe its volume, bring it back at once on the same address (faster
    than down-after-milliseconds): parked, it stays a replica, the sentinels fail over, and the
    replicas keep every key at every moment."""
    deployment.converge()
    old = deployment.master()
    load(old.client(), 20000)
    wait_synced(deployment)
    old.kill()
    shutil.rmtree(old.workdir)
    os.makedirs(old.workdir)
    old.start()
    assert old.client().dbsize() == 0
    others = [p for p in deployment.pods.values() if p is not old]
    smallest = {}
    done = threading.Event()

    def watch():
        while not done.is_set():
            for pod in others:
                try:
                    size = pod.client().dbsize()
                except redis.RedisError:
                    continue  # a replica busy loading after the failover
                smallest[pod.address] = min(size, smallest.get(pod.address, size))
            time.sleep(0.05)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = deployment.converge()
    finally:
        done.set()
        watcher.join(10)
    assert any("restarted and is parked" in a for a in result["actions"]), result["actions"]
    master = assert_healthy(deployment, 3)
    assert master is not old
    assert smallest == dict((p.address, 20000) for p in others)
    wait_synced(deployment)
    for pod in deployment.pods.values():
        assert pod.client().dbsize() == 20000, pod.address


def test_e_every_pod_restarts_on_new_addresses(deployment):
    """Redis pods and sentinels all come back on new IPs; sentinels forgot everything."""
    deployment.converge()
    load(deployment.master().client(), 10000)
    wait_synced(deployment)
    previous = deployment.master()
    for pod in deployment.pods.values():
        pod.move()
    for sentinel in deployment.sentinels:
        sentinel.move()
    result = deployment.converge(previous_master="s-redis-%d" % previous.ordinal)
    master = assert_healthy(deployment, 3)
    assert master is previous  # the most recent data
    wait_synced(deployment)
    for pod in deployment.pods.values():
        assert pod.client().dbsize() == 10000
    assert result["changed"]


def test_f_redis_pods_move_while_sentinels_keep_stale_addresses(deployment):
    """Only the Redis pods get new IPs: the sentinels' master and replicas are all gone and none
    of the sentinels can promote anything, so the operator re-points them (no needless
    failover), and no stale address survives."""
    deployment.converge()
    load(deployment.master().client(), 3000)
    wait_synced(deployment)
    previous = deployment.master()
    for pod in deployment.pods.values():
        pod.move()
    # The operator may come late: by then the sentinels flag the old master down and keep
    # retrying failovers that can only abort (every replica they know is gone too).
    wait_until(lambda: all("o_down" in sentinel_flags(s) for s in deployment.sentinels), 30,
               "the sentinels to see the moved master down")
    deployment.converge()
    master = assert_healthy(deployment, 3)
    assert master is previous
    assert master.client().dbsize() == 3000


def sentinel_flags(sentinel):
    reply = pairs_to_dict(sentinel.client().execute_command("SENTINEL", "MASTER", MASTER_NAME))
    return reply["flags"].split(",")


def test_g_a_sentinel_on_a_new_address_is_forgotten_then_failover_still_works(deployment):
    deployment.converge()
    deployment.sentinels[2].move()
    result = deployment.converge()
    assert any("reset sentinel" in a for a in result["actions"]), result["actions"]
    assert_healthy(deployment, 3)
    # With the stale sentinel gone the voters are the three live ones: a failover succeeds.
    old = deployment.master()
    old.kill()
    wait_until(lambda: deployment.discover() != (old.host, old.port), 60, "a failover")
    old.start()
    deployment.converge()
    assert deployment.master() is not old
    assert_healthy(deployment, 3)


def test_h_scale_3_to_5_to_2_under_a_writer(deployment):
    deployment.converge()
    writer = SentinelWriter(deployment)
    writer.start()
    deployment.scale(5)
    deployment.converge()
    assert_healthy(deployment, 5)
    # Put the master on a pod that scale-down removes: the converge must move it off first.
    leaving = deployment.pods[4]
    for pod in deployment.pods.values():
        if pod is not leaving:
            pod.client().config_set("replica-priority", 0)
    wait_synced(deployment)

    def priorities_seen():  # sentinels refresh replica INFO every 10 s
        replicas = map(pairs_to_dict, deployment.sentinels[0].client().execute_command(
            "SENTINEL", "SLAVES", MASTER_NAME))
        return all(r["slave-priority"] == ("100" if r["port"] == str(leaving.port) else "0")
                   for r in replicas)
    wait_until(priorities_seen, 30, "the sentinel to see the priorities")
    deployment.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", MASTER_NAME)

    def all_sentinels_name_leaving():  # the converge starts from an agreed failover
        return all(tuple(s.client().execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)) == (leaving.host,
                                                                     str(leaving.port))
            for s in deployment.sentinels)
    wait_until(all_sentinels_name_leaving, 60, "the failover to the last pod")
    result = deployment.converge(replicas=2)
    assert any("is leaving" in a for a in result["actions"]), result["actions"]
    assert deployment.master().ordinal < 2
    deployment.scale(2)  # the StatefulSet shrinks only after the converge
    result = deployment.converge(replicas=2)
    writer.stop()
    master = assert_healthy(deployment, 2)
    for pod in deployment.pods.values():
        assert int(pod.client().config_get("replica-priority")["replica-priority"]) == 100
    wait_synced(deployment)
    assert writer.ops > 100
    assert writer.verify(master.client()) == {}


def test_i_unreachable_pods_give_a_reason_not_a_hang(deployment):
    deployment.converge()
    for pod in deployment.pods.values():
        pod.kill()
    with pytest.raises(SentinelConvergeError) as failure:
        deployment.converge(timeout=3)
    assert "does not answer" in str(failure.value)
