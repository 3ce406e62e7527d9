"""Pure decisions over parsed Sentinel state, with literal INFO and SENTINEL replies."""

from ansible.module_utils.redisible_pods import Pod
from ansible.module_utils.redisible_replies import pairs_to_dict, parse_info, parse_replica_lines
from ansible.module_utils.redisible_sentinel_state import (
    RedisState,
    SentinelShape,
    SentinelState,
    choose_master,
    plan_sentinel,
    sentinel_view,
    topology,
)

MASTER_INFO = """\
# Replication
role:master
connected_slaves:2
slave0:ip=10.0.0.2,port=6379,state=online,offset=1000,lag=0
slave1:ip=10.0.0.3,port=6379,state=online,offset=990,lag=1
master_replid:8d5f4bd0b8b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0
master_repl_offset:1000
"""


def replica_info(master="10.0.0.1:6379", link="up", offset=1000):
    host, port = master.split(":")
    return ("# Replication\r\nrole:slave\r\nmaster_host:%s\r\nmaster_port:%s\r\n"
            "master_link_status:%s\r\nslave_repl_offset:%d\r\nmaster_repl_offset:%d\r\n" % (
                host, port, link, offset, offset))


PARKED = replica_info("127.0.0.1:1", link="down", offset=0)


def pod(ordinal, host=None):
    return Pod("r-%d" % ordinal, host or "10.0.0.%d" % (ordinal + 1), 6379, ordinal=ordinal)


def sentinel_member(ordinal):
    return Pod("s-%d" % ordinal, "10.0.1.%d" % (ordinal + 1), 26379, ordinal=ordinal)


def redis(ordinal, info, dbsize=10, priority=100, host=None):
    return RedisState.from_replies(pod(ordinal, host), info, dbsize, priority)


def sentinel(ordinal, master="10.0.0.1:6379", epoch=0, flags="master", replicas=None,
             peers=None, quorum=2, settings=None):
    if master is None:
        return SentinelState(sentinel_member(ordinal))
    host, port = master.split(":")
    reply = ["name", "mymaster", "ip", host, "port", port, "flags", flags,
             "config-epoch", str(epoch), "quorum", str(quorum), "failover-state", "none"]
    for key, value in (settings or SETTINGS).items():
        reply += [key, str(value)]
    replicas = [{"ip": a.split(":")[0], "port": a.split(":")[1], "slave-priority": "100"}
                for a in (replicas if replicas is not None else ["10.0.0.2:6379",
                                                                 "10.0.0.3:6379"])]
    peers = [{"ip": a.split(":")[0], "port": a.split(":")[1]} for a in (
        peers if peers is not None else
        ["10.0.1.%d:26379" % (i + 1) for i in range(3) if i != ordinal])]
    return SentinelState(sentinel_member(ordinal), pairs_to_dict(reply), replicas, peers)


SETTINGS = {"down-after-milliseconds": "5000", "failover-timeout": "60000",
            "parallel-syncs": "1"}


def shape(replicas=3, previous=None):
    return SentinelShape("mymaster", replicas, 2, SETTINGS, 100, previous)


def healthy():
    return ([redis(0, MASTER_INFO), redis(1, replica_info()), redis(2, replica_info())],
            [sentinel(0), sentinel(1), sentinel(2)])


def test_parse_replica_lines_and_pairs():
    lines = parse_replica_lines(parse_info(MASTER_INFO))
    assert lines[1] == {"ip": "10.0.0.3", "port": 6379, "state": "online", "offset": 990,
                        "lag": 1}
    assert pairs_to_dict([b"ip", b"10.0.0.1", b"port", b"6379"]) == {"ip": "10.0.0.1",
                                                                     "port": "6379"}


def test_a_healthy_deployment_needs_nothing():
    redis_states, sentinels = healthy()
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.empty and plan.notes == [] and plan.summary() == []
    assert plan.master.pod.name == "r-0" and plan.chosen_by == "sentinels"
    view = topology(plan)
    assert view["master"]["pod"] == "r-0"
    assert [r["linkStatus"] for r in view["replicas"]] == ["up", "up"]


def test_first_start_promotes_the_first_pod_and_points_every_sentinel():
    redis_states = [redis(i, PARKED, dbsize=0) for i in range(3)]
    sentinels = [sentinel(i, master=None) for i in range(3)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.promote.pod.name == "r-0" and plan.chosen_by == "operator"
    assert [s.pod.name for s in plan.monitors] == ["s-0", "s-1", "s-2"]
    assert [s.pod.name for s in plan.replicates] == ["r-1", "r-2"]
    assert plan.first_pending_phase() == "promote"


def test_full_restart_picks_the_most_recent_data_not_ordinal_zero():
    redis_states = [redis(0, replica_info("127.0.0.1:1", "down", 500)),
                    redis(1, replica_info("127.0.0.1:1", "down", 900)),
                    redis(2, replica_info("127.0.0.1:1", "down", 900))]
    sentinels = [sentinel(i, master=None) for i in range(3)]
    plan = plan_sentinel(redis_states, sentinels, shape(previous="r-2"))
    assert plan.promote.pod.name == "r-2"  # ties on offset go to the last known master


def test_the_sentinels_choice_wins_over_data():
    """r-1 is the sentinels' master; r-0 has a higher offset but is not asked to lead."""
    redis_states = [redis(0, replica_info("10.0.0.2:6379", offset=5000)),
                    redis(1, MASTER_INFO), redis(2, replica_info("10.0.0.2:6379"))]
    sentinels = [sentinel(i, master="10.0.0.2:6379", epoch=3,
                          replicas=["10.0.0.1:6379", "10.0.0.3:6379"]) for i in range(3)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.master.pod.name == "r-1" and plan.promote is None and plan.empty


def test_highest_config_epoch_wins_a_disagreement():
    address, holders = sentinel_view([sentinel(0, "10.0.0.1:6379", epoch=1),
                                      sentinel(1, "10.0.0.1:6379", epoch=1),
                                      sentinel(2, "10.0.0.2:6379", epoch=2)])
    assert address == "10.0.0.2:6379" and [h.pod.name for h in holders] == ["s-2"]


def test_a_failover_in_progress_is_waited_for():
    redis_states, _ = healthy()
    sentinels = [sentinel(i, flags="master,s_down,o_down,failover_in_progress")
                 for i in range(3)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.empty and plan.master is None
    assert "failing over" in plan.notes[0]


def test_a_gone_master_with_replicas_is_left_to_the_sentinels():
    """The master pod came back on a new IP: the replicas still follow the old address, the
    sentinels can promote one of them, so the operator waits instead of choosing."""
    redis_states = [redis(0, PARKED, host="10.0.0.9"), redis(1, replica_info("10.0.0.1:6379",
                                                                                "down")),
                    redis(2, replica_info("10.0.0.1:6379", "down"))]
    sentinels = [sentinel(i) for i in range(3)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.empty and plan.master is None and plan.failover is None
    assert "waiting for the sentinels to fail over" in plan.notes[0]


def test_a_parked_master_at_the_same_address_gets_a_failover_request():
    redis_states = [redis(0, PARKED, dbsize=0), redis(1, replica_info(link="down")),
                    redis(2, replica_info(link="down"))]
    sentinels = [sentinel(i) for i in range(3)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.failover is not None and plan.promote is None and plan.replicates == []
    assert "restarted and is parked" in plan.summary()[0]


def test_sentinels_with_only_dead_addresses_are_re_pointed_at_the_best_pod():
    """Every Redis pod moved: nothing the sentinels know answers, so they cannot fail over."""
    redis_states = [redis(i, replica_info("127.0.0.1:1", "down", 100 * i), host="10.0.2.%d" % i)
                    for i in range(3)]
    sentinels = [sentinel(i) for i in range(3)]
    plan = plan_sentinel(redis_states, sentinels, shape(previous="r-0"))
    assert plan.promote.pod.name == "r-2" and len(plan.monitors) == 3


def test_sentinels_that_see_a_dead_master_down_but_cannot_promote_are_re_pointed():
    """Same as above after down-after-milliseconds: the sentinels flag the old master down and
    keep retrying failovers that abort (no good replica). Waiting for them never ends."""
    redis_states = [redis(i, replica_info("127.0.0.1:1", "down", 100 * i), host="10.0.2.%d" % i)
                    for i in range(3)]
    sentinels = [sentinel(i, flags="master,disconnected,s_down,o_down") for i in range(3)]
    plan = plan_sentinel(redis_states, sentinels, shape(previous="r-0"))
    assert plan.promote.pod.name == "r-2" and len(plan.monitors) == 3
    assert not any("failing over" in note for note in plan.notes)


def test_a_master_seen_down_with_a_replica_the_sentinels_can_promote_is_waited_for():
    redis_states = [redis(0, PARKED, host="10.0.0.9"),
                    redis(1, replica_info("10.0.0.1:6379", "down")),
                    redis(2, replica_info("10.0.0.1:6379", "down"))]
    sentinels = [sentinel(i, flags="master,disconnected,s_down,o_down") for i in range(3)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.empty and plan.master is None
    assert "failing over" in plan.notes[0]


def test_one_sentinel_alone_seeing_a_live_master_down_is_reset_not_waited_for():
    """The master answers and two sentinels see it up; the third has a bad link (5.0 after
    meeting the master before it had the password). Nobody fails over: reset that one."""
    redis_states, sentinels = healthy()
    sentinels[0] = sentinel(0, flags="master,s_down")
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.master.pod.name == "r-0" and plan.chosen_by == "sentinels"
    assert [s.pod.name for s in plan.resets] == ["s-0"]
    assert not any("failing over" in note for note in plan.notes)


def test_a_quorum_seeing_the_master_down_is_waited_for():
    redis_states, _ = healthy()
    sentinels = [sentinel(0, flags="master,s_down"), sentinel(1, flags="master,s_down"),
                 sentinel(2)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.empty and plan.master is None and "failing over" in plan.notes[0]


def test_too_few_sentinels_holding_the_view_cannot_fail_over():
    """Two sentinels restarted empty: the one left cannot reach a majority, so the operator
    takes over instead of waiting forever."""
    redis_states = [redis(0, PARKED, host="10.0.0.9"), redis(1, replica_info(link="down")),
                    redis(2, replica_info(link="down"))]
    sentinels = [sentinel(0), sentinel(1, master=None), sentinel(2, master=None)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.chosen_by == "operator" and plan.promote.pod.name == "r-1"


def test_settings_priorities_and_wrong_master_are_corrected():
    redis_states = [redis(0, MASTER_INFO), redis(1, replica_info("10.0.0.3:6379")),
                    redis(2, replica_info(), priority=5)]
    sentinels = [sentinel(0, settings=dict(SETTINGS, **{"down-after-milliseconds": "30000"})),
                 sentinel(1), sentinel(2)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.settings[0][1] == {"down-after-milliseconds": "5000"}
    assert plan.priorities[0][0].pod.name == "r-2" and plan.priorities[0][1] == 100
    assert [s.pod.name for s in plan.replicates] == ["r-1"]


def test_scale_down_gives_leaving_pods_priority_zero_and_moves_a_leaving_master():
    redis_states = [redis(0, replica_info("10.0.0.3:6379"), priority=100),
                    redis(1, replica_info("10.0.0.3:6379"), priority=0),
                    redis(2, MASTER_INFO)]
    replicas = ["10.0.0.1:6379", "10.0.0.2:6379"]
    sentinels = [sentinel(i, master="10.0.0.3:6379", replicas=replicas) for i in range(3)]
    for state in sentinels:
        state.replicas[1]["slave-priority"] = "0"
    plan = plan_sentinel(redis_states, sentinels, shape(replicas=1))
    assert [(s.pod.name, value) for s, value in plan.priorities] == [("r-2", 0)]
    assert plan.failover is not None and "r-2 is leaving" in plan.failover_reason


def test_a_leaving_master_waits_until_the_sentinel_sees_the_priorities():
    redis_states = [redis(0, replica_info("10.0.0.3:6379")),
                    redis(1, replica_info("10.0.0.3:6379"), priority=0), redis(2, MASTER_INFO)]
    sentinels = [sentinel(i, master="10.0.0.3:6379",
                          replicas=["10.0.0.1:6379", "10.0.0.2:6379"]) for i in range(3)]
    plan = plan_sentinel(redis_states, sentinels, shape(replicas=1))
    assert plan.failover is None and "replica priorities" in plan.notes[-1]


def test_stale_sentinel_and_replica_entries_are_reset_one_sentinel_at_a_time():
    redis_states, _ = healthy()
    sentinels = [sentinel(0, peers=["10.0.1.2:26379", "10.0.1.3:26379", "10.0.9.9:26379"]),
                 sentinel(1, replicas=["10.0.0.2:6379", "10.0.0.3:6379", "10.0.8.8:6379"]),
                 sentinel(2)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert [s.pod.name for s in plan.resets] == ["s-0", "s-1"]
    assert plan.summary() == ["reset sentinel s-0 (stale addresses)"]


def test_no_reset_while_other_work_is_pending():
    redis_states = [redis(0, MASTER_INFO), redis(1, replica_info()), redis(2, PARKED)]
    sentinels = [sentinel(0, replicas=["10.0.0.2:6379", "10.0.0.3:6379", "10.0.8.8:6379"]),
                 sentinel(1), sentinel(2)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.resets == [] and [s.pod.name for s in plan.replicates] == ["r-2"]


def test_undiscovered_peers_are_waited_for_not_reset():
    redis_states, _ = healthy()
    sentinels = [sentinel(0, peers=["10.0.1.2:26379"]), sentinel(1), sentinel(2)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.empty and "s-0 has not discovered 10.0.1.3:26379" in plan.notes[0]


def test_unreachable_pods_are_reasons():
    redis_states = [redis(0, MASTER_INFO), redis(1, replica_info()),
                    RedisState(pod(2), error="ConnectionError: refused")]
    plan = plan_sentinel(redis_states, [sentinel(0), sentinel(1), sentinel(2)], shape())
    assert "r-2 does not answer" in plan.notes[0]


def test_choose_master_prefers_a_real_master():
    states = [redis(0, PARKED, dbsize=0), redis(1, MASTER_INFO, dbsize=1)]
    assert choose_master(states).pod.name == "r-1"
    assert choose_master([]) is None


def test_a_second_master_is_not_demoted_while_a_sentinel_is_silent():
    """Just after a failover the old master still serves as master; a sentinel that does not
    answer may hold the newer choice, so nothing serving as master is demoted on a partial view."""
    redis_states = [redis(0, MASTER_INFO), redis(1, replica_info()),
                    redis(2, MASTER_INFO)]
    sentinels = [sentinel(0), sentinel(1),
                 SentinelState(sentinel_member(2), error="TimeoutError: timed out")]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.replicates == []
    assert any("r-2 also serves as master" in note for note in plan.notes)
    complete = plan_sentinel(redis_states, [sentinel(0), sentinel(1), sentinel(2)], shape())
    assert [s.pod.name for s in complete.replicates] == ["r-2"]


def test_a_sentinel_that_missed_a_switch_is_re_pointed():
    """s-2 still names r-0, which now replicates from r-1 (the others' newer choice)."""
    redis_states = [redis(0, replica_info("10.0.0.2:6379")), redis(1, MASTER_INFO),
                    redis(2, replica_info("10.0.0.2:6379"))]
    replicas = ["10.0.0.1:6379", "10.0.0.3:6379"]
    sentinels = [sentinel(0, "10.0.0.2:6379", epoch=2, replicas=replicas),
                 sentinel(1, "10.0.0.2:6379", epoch=2, replicas=replicas),
                 sentinel(2, "10.0.0.1:6379", epoch=1)]
    plan = plan_sentinel(redis_states, sentinels, shape())
    assert plan.master.pod.name == "r-1"
    assert [s.pod.name for s in plan.monitors] == ["s-2"]


def test_choose_master_never_picks_an_empty_previous_master_over_a_pod_with_data():
    """A full restart from AOF: every pod parked, every offset 0; the previous master's volume
    was lost (0 keys), the others reloaded theirs."""
    states = [redis(0, PARKED, dbsize=0), redis(1, PARKED, dbsize=10), redis(2, PARKED, dbsize=9)]
    assert choose_master(states, previous_master="r-0").pod.name == "r-1"
    # A real master that came back empty loses to a replica holding the keys too.
    states = [redis(0, MASTER_INFO, dbsize=0), redis(1, replica_info(link="down"), dbsize=10)]
    assert choose_master(states, previous_master="r-0").pod.name == "r-1"
    # With data everywhere, the previous master still wins over a replica with more keys.
    states = [redis(0, PARKED, dbsize=5), redis(1, PARKED, dbsize=10)]
    assert choose_master(states, previous_master="r-0").pod.name == "r-0"
