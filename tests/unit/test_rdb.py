"""Pure backup decisions, with literal inputs: RDB headers written by real Redis 5.0 and 7.0
(SAVE of two keys, one with a TTL), manifests, source choice, retention, refusals."""

import pytest
from ansible.module_utils.redisible_rdb import (
    BackupError,
    NeedMore,
    backups_to_prune,
    build_manifest,
    choose_backup_sources,
    choose_scratch_server,
    expected_key_range,
    manifest_problems,
    max_rdb_version,
    parse_rdb_header,
    rdb_trailer_ok,
    restore_method,
    restore_refusals,
    restore_targets,
)

RDB_50 = bytes.fromhex(
    "524544495330303039fa0972656469732d76657205352e302e36fa0a72656469732d62697473c040fa0563"
    "74696d65c2ade50a6bfa08757365642d6d656dc238e80d00fa0c616f662d707265616d626c65c000fe00fb"
    "0201fce00c8728a20100000001620374776f000161c001ffe3edd15dd0a6b10e")
RDB_70 = bytes.fromhex(
    "524544495330303130fa0972656469732d76657206372e302e3135fa0a72656469732d62697473c040fa05"
    "6374696d65c2ade50a6bfa08757365642d6d656dc2d8160f00fa08616f662d62617365c000fe00fb0201fc"
    "590d8728a20100000001620374776f000161c001ffb325792df4dd99fc")


@pytest.mark.parametrize("data, rdb_version, redis_version", [
    (RDB_50, 9, "5.0.6"), (RDB_70, 10, "7.0.15")])
def test_header_of_real_rdb_files(data, rdb_version, redis_version):
    header = parse_rdb_header(data)
    assert header["rdb_version"] == rdb_version
    assert header["aux"]["redis-ver"] == redis_version
    assert header["aux"]["redis-bits"] == "64"
    assert header["databases"] == {0: {"keys": 2, "expires": 1}}
    assert rdb_trailer_ok(data[-16:], rdb_version)
    assert not rdb_trailer_ok(data[-20:-4], rdb_version)


def test_header_needs_more_bytes_when_cut_and_refuses_what_is_not_rdb():
    with pytest.raises(NeedMore):
        parse_rdb_header(RDB_50[:40])
    with pytest.raises(BackupError) as caught:
        parse_rdb_header(b"<html>not a backup</html>")
    assert "not an RDB file" in str(caught.value)


def test_empty_rdb_has_no_databases():
    empty = b"REDIS0009\xfa\x09redis-ver\x055.0.6\xff" + b"\x00" * 8
    header = parse_rdb_header(empty)
    assert header["empty"] and header["databases"] == {}


def test_rdb_versions_each_release_reads():
    assert [max_rdb_version(v) for v in ("5.0.6", "6.0.9", "6.2.14", "7.0.15", "7.2.4")] == \
        [9, 9, 9, 10, 11]


def shard(index, rdb_version=9, keys=10, expires=2, databases=None, redis="5.0.6"):
    return {"index": index, "file": "shard-%d.rdb" % index, "bytes": 100, "sha256": "ab" * 32,
            "rdb_version": rdb_version, "redis_version": redis, "keys": keys,
            "expires": expires, "databases": databases or {"0": {"keys": keys}},
            "source": {"pod": "p-%d" % index}, "slots": [[0, 16383]]}


def manifest(*shards):
    return build_manifest("b", "RedisCluster", "src", "t0", "t1", list(shards))


def test_manifest_sums_and_problems():
    built = manifest(shard(1), shard(0, keys=5, expires=1))
    assert [s["index"] for s in built["shards"]] == [0, 1]
    assert built["keys"] == 15 and built["totalBytes"] == 200 and built["rdbVersion"] == 9
    assert manifest_problems(built) == []
    assert expected_key_range(built) == (12, 15)
    gap = manifest(shard(0), shard(2))
    assert any("not 0..1" in p for p in manifest_problems(gap))
    assert manifest_problems({"format": 1, "shards": []}) == ["the manifest lists no files"]
    assert "format" in manifest_problems({"format": 99, "shards": [{}]})[0]


def test_refusals_newer_format_and_extra_databases_for_a_cluster():
    newer = manifest(shard(0, rdb_version=10, redis="7.0.15"))
    problems = restore_refusals(newer, "Redis", "6.2.14", 1)
    assert len(problems) == 1 and "RDB format 10" in problems[0] and "7.0.15" in problems[0]
    assert restore_refusals(newer, "Redis", "7.0.15", 1) == []
    older = manifest(shard(0))
    assert restore_refusals(older, "RedisCluster", "7.0.15", 3) == []
    dbs = manifest(shard(0, databases={"0": {"keys": 3}, "4": {"keys": 2}}))
    assert "database 4" in restore_refusals(dbs, "RedisCluster", "7.0.15", 3)[0]
    assert restore_refusals(dbs, "Redis", "7.0.15", 1) == []


def test_restore_method_native_only_for_one_file_into_a_standalone():
    one = manifest(shard(0))
    assert restore_method(one, "Redis", 1) == "replication"
    assert restore_method(one, "RedisSentinel", 1) == "keys"
    assert restore_method(one, "RedisCluster", 3) == "keys"
    assert restore_method(manifest(shard(0), shard(1)), "Redis", 1) == "keys"


def test_placement_only_into_waiting_targets_of_the_same_shape():
    one, three = manifest(shard(0)), manifest(shard(0), shard(1), shard(2))
    assert restore_method(one, "Redis", 1, waiting=True) == "placement"
    assert restore_method(three, "RedisCluster", 3, waiting=True) == "placement"
    # A standalone's one file into a one-shard cluster: the node claims the slots it loads.
    assert restore_method(one, "RedisCluster", 1, waiting=True) == "placement"
    # Another shape, or a target already serving: no placement.
    assert restore_method(three, "RedisCluster", 4, waiting=True) == "keys"
    assert restore_method(three, "Redis", 1, waiting=True) == "keys"
    assert restore_method(three, "RedisCluster", 3) == "keys"
    assert restore_method(one, "Redis", 1) == "replication"
    # The sentinel converge picks the first master; a file placed elsewhere would be wiped.
    assert restore_method(one, "RedisSentinel", 1, waiting=True) == "keys"


def pod(name, shard_index, role, host, master=None, link="up", offset=0, slots=None):
    return {"name": name, "host": host, "port": 6379, "shard": shard_index, "role": role,
            "master_host": master, "master_port": 6379 if master else None, "link": link,
            "offset": offset, "slots": slots}


def test_backup_sources_prefer_the_most_advanced_replica_with_link_up():
    observed = [
        pod("c-0-0", 0, "master", "10.0.0.1", slots=list(range(0, 8192))),
        pod("c-0-1", 0, "slave", "10.0.0.2", master="10.0.0.1", offset=90),
        pod("c-0-2", 0, "slave", "10.0.0.3", master="10.0.0.1", offset=100),
        pod("c-1-0", 1, "slave", "10.0.1.1", master="10.0.1.2", link="down"),
        pod("c-1-1", 1, "master", "10.0.1.2", slots=list(range(8192, 16384))),
    ]
    chosen = choose_backup_sources(observed, cluster=True)
    assert [c["source"]["name"] for c in chosen] == ["c-0-2", "c-1-1"]
    assert chosen[0]["master"]["name"] == "c-0-0" and chosen[1]["master"] is None
    assert chosen[0]["slots"] == [[0, 8191]] and chosen[1]["slots"] == [[8192, 16383]]


def test_backup_sources_refuse_two_masters_or_none():
    observed = [pod("r-0", 0, "master", "10.0.0.1"), pod("r-1", 0, "master", "10.0.0.2")]
    with pytest.raises(BackupError) as caught:
        choose_backup_sources(observed, cluster=False)
    assert "2 masters (r-0, r-1)" in str(caught.value)
    with pytest.raises(BackupError):
        restore_targets([pod("r-0", 0, "slave", "10.0.0.1", master="10.0.0.9")], cluster=False)
    # A replica following some other address is not a source for this master.
    stray = [pod("r-0", 0, "master", "10.0.0.1"),
             pod("r-1", 0, "slave", "10.0.0.2", master="10.0.0.7")]
    assert choose_backup_sources(stray, cluster=False)[0]["source"]["name"] == "r-0"


def test_retention_keeps_the_last_n_or_the_young_and_always_the_newest():
    day = 86400
    backups = [("b%d" % i, i * day) for i in range(6)]  # b5 is the newest
    assert backups_to_prune(backups) == []
    assert sorted(backups_to_prune(backups, keep_last=2)) == ["b0", "b1", "b2", "b3"]
    assert sorted(backups_to_prune(backups, keep_days=2, now=5 * day + 1)) == \
        ["b0", "b1", "b2", "b3"]
    # Both: kept when either rule keeps it.
    assert sorted(backups_to_prune(backups, keep_last=1, keep_days=3, now=5 * day + 1)) == \
        ["b0", "b1", "b2"]
    assert backups_to_prune([("only", 0)], keep_last=1, keep_days=1, now=10 * day) == []


def test_scratch_server_matches_the_target_or_the_newest_older_one():
    binaries = {"5.0": "/r50", "6.2": "/r62", "7.0": "/r70"}
    assert choose_scratch_server(binaries, "7.0.15") == "/r70"
    assert choose_scratch_server(binaries, "6.0.9") == "/r50"
    assert choose_scratch_server(binaries, "7.2.4") == "/r70"
    with pytest.raises(BackupError) as caught:
        choose_scratch_server({"7.0": "/r70"}, "5.0.6")
    assert "5.0 or older" in str(caught.value)


def test_waiting_pods_become_the_volumes_a_placement_writes():
    from ansible.module_utils.redisible_restore import pod_volumes
    pods = [{"name": "c-shard-1-0", "shard": 1, "ordinal": 0,
             "init_containers": {"restore-wait": "running"}},
            {"name": "c-shard-1-1", "shard": 1, "ordinal": 1,
             "init_containers": {"restore-wait": "terminated"}}]
    volumes = pod_volumes(pods, {"type": "pod", "namespace": "ns", "path": "/data"})
    assert volumes == [
        {"name": "c-shard-1-0", "shard": 1, "primary": True,
         "storage": {"type": "pod", "namespace": "ns", "path": "/data", "pod": "c-shard-1-0",
                     "container": "restore-wait"}},
        # Released already: its init container is done, the volume is reached through Redis.
        {"name": "c-shard-1-1", "shard": 1, "primary": False,
         "storage": {"type": "pod", "namespace": "ns", "path": "/data", "pod": "c-shard-1-1",
                     "container": "redis"}}]


def test_the_load_plan_is_decided_once_from_the_manifest_and_the_target_kind():
    from ansible.module_utils.redisible_rdb import load_plan
    one = {"shards": [{"file": "shard-0.rdb"}]}
    three = {"shards": [{"file": "shard-%d.rdb" % i} for i in range(3)]}
    assert load_plan(one, "Redis") == {"method": "replication", "needs_loader": False}
    assert load_plan(three, "Redis") == {"method": "keys", "needs_loader": True}
    # A sentinel master is never made a replica; a cluster routes keys by slot.
    assert load_plan(one, "RedisSentinel") == {"method": "keys", "needs_loader": True}
    assert load_plan(three, "RedisCluster") == {"method": "keys", "needs_loader": True}
