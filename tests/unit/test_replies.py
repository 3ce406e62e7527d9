"""The reply parsers every planner reads Redis through, with literal replies of 5.0 and 7.0."""

import pytest
from ansible.module_utils.redisible_replies import (
    ReplyError,
    format_slot_ranges,
    pairs_to_dict,
    parse_cluster_nodes,
    parse_info,
    parse_replica_lines,
    reply_text,
)

# Redis 5.0 format, one slot migrating, one importing.
NODES_50 = """\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@40004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5459 [5460->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
"""

# Redis 7.0 format with a hostname, a failing node and a node without address.
NODES_70 = """\
aaaa000000000000000000000000000000000001 10.0.0.1:6379@16379,redis-0 myself,master - 0 0 3 connected 0-100 200
aaaa000000000000000000000000000000000002 10.0.0.2:6379@16379,redis-1 master,fail - 1 2 2 disconnected [300-<-aaaa000000000000000000000000000000000001]
aaaa000000000000000000000000000000000003 :0@0 master,noaddr - 1 2 0 disconnected
"""


def test_parse_redis50_format():
    nodes = parse_cluster_nodes(NODES_50)
    assert len(nodes) == 4
    me = nodes["e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca"]
    assert me.is_myself and me.is_master
    assert me.address == "127.0.0.1:30001" and me.cport == 40001
    assert len(me.slots) == 5460 and 5460 not in me.slots
    assert me.migrating == {5460: "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1"}
    replica = nodes["07c37dfeb235213a872192d90877d0cd55635b91"]
    assert replica.is_replica and replica.master_id == me.node_id and not replica.slots


def test_parse_redis70_format_with_hostnames_fail_and_noaddr():
    nodes = parse_cluster_nodes(NODES_70)
    first = nodes["aaaa000000000000000000000000000000000001"]
    assert first.host == "10.0.0.1" and first.port == 6379
    assert first.slots == frozenset(list(range(0, 101)) + [200])
    failing = nodes["aaaa000000000000000000000000000000000002"]
    assert failing.is_failing and failing.importing == {300: first.node_id}
    noaddr = nodes["aaaa000000000000000000000000000000000003"]
    assert noaddr.is_failing and noaddr.host == "" and noaddr.port == 0


def test_parse_rejects_garbage_with_the_line():
    with pytest.raises(ReplyError) as caught:
        parse_cluster_nodes("not a cluster line")
    assert "not a cluster line" in str(caught.value)


def test_parse_info():
    info = parse_info("# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n")
    assert info == {"role": "slave", "master_link_status": "up"}


def test_slot_ranges_format():
    assert format_slot_ranges({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert format_slot_ranges(set()) == ""


def test_replica_lines_of_info_replication():
    info = parse_info("role:master\r\nconnected_slaves:2\r\n"
                      "slave0:ip=10.0.0.2,port=6379,state=online,offset=1000,lag=0\r\n"
                      "slave1:ip=10.0.0.3,port=6379,state=wait_bgsave,offset=0,lag=3\r\n")
    assert parse_replica_lines(info) == [
        {"ip": "10.0.0.2", "port": 6379, "state": "online", "offset": 1000, "lag": 0},
        {"ip": "10.0.0.3", "port": 6379, "state": "wait_bgsave", "offset": 0, "lag": 3}]


def test_pairs_and_text_replies():
    assert pairs_to_dict([b"ip", b"10.0.0.1", b"port", b"6379"]) == {"ip": "10.0.0.1",
                                                                     "port": "6379"}
    assert reply_text(b"OK") == "OK" and reply_text(7) == "7"
