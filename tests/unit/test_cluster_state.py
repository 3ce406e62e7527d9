"""Pure decisions over parsed cluster state, with literal CLUSTER NODES inputs."""

import pytest
from ansible.module_utils.redisible_cluster_state import (
    SLOT_COUNT,
    ClusterSettlingError,
    ClusterStateError,
    DesiredShape,
    PodState,
    plan_converge,
    plan_slot_cover,
    plan_slot_moves,
    slot_targets,
    topology,
)
from ansible.module_utils.redisible_pods import Pod
from ansible.module_utils.redisible_replies import format_slot_ranges, parse_cluster_nodes


def test_slot_targets_even_with_remainder_first():
    assert slot_targets(["a", "b", "c"]) == {"a": 5462, "b": 5461, "c": 5461}
    assert sum(slot_targets(list("abcde")).values()) == SLOT_COUNT


def _owners(*ranges):
    owners = {}
    for owner, first, last in ranges:
        for slot in range(first, last + 1):
            owners[slot] = owner
    return owners


def test_moves_scale_out_three_to_four_are_even_and_minimal():
    owners = _owners(("a", 0, 5461), ("b", 5462, 10922), ("c", 10923, 16383))
    moves = plan_slot_moves(owners, ["a", "b", "c", "d"])
    assert all(dst == "d" for _, _, dst in moves)
    assert len(moves) == 4096
    final = dict(owners)
    for slot, src, dst in moves:
        assert final[slot] == src
        final[slot] = dst
    counts = {}
    for owner in final.values():
        counts[owner] = counts.get(owner, 0) + 1
    assert counts == {"a": 4096, "b": 4096, "c": 4096, "d": 4096}


def test_moves_drain_leaving_masters_completely():
    owners = _owners(("a", 0, 3276), ("b", 3277, 6553), ("c", 6554, 9830),
                     ("d", 9831, 13107), ("e", 13108, 16383))
    moves = plan_slot_moves(owners, ["a", "b", "c"], leaving_masters=["d", "e"])
    moved_from = set(src for _, src, _ in moves)
    assert moved_from == {"d", "e"}
    assert len(moves) == 6553
    assert set(dst for _, _, dst in moves) == {"a", "b", "c"}


def test_moves_none_when_balanced():
    owners = _owners(("a", 0, 5461), ("b", 5462, 10922), ("c", 10923, 16383))
    assert plan_slot_moves(owners, ["a", "b", "c"]) == []


def test_cover_new_cluster_gets_contiguous_even_ranges():
    cover = plan_slot_cover(set(range(SLOT_COUNT)), ["a", "b", "c"], {})
    assert format_slot_ranges(cover["a"]) == "0-5461"
    assert format_slot_ranges(cover["b"]) == "5462-10922"
    assert format_slot_ranges(cover["c"]) == "10923-16383"


def test_cover_prefers_the_master_holding_keys():
    cover = plan_slot_cover({7, 8}, ["a", "b"], {"a": 8190, "b": 8192}, {8: ["b"]})
    assert cover == {"a": [7], "b": [8]}


# --- plan_converge over hand-written pod states ----------------------------------------------

def _line(node_id, address, flags, master="-", epoch=0, slots=""):
    return "%s %s@1%s %s %s 0 0 %d connected %s" % (
        node_id, address, address.split(":")[1], flags, master, epoch, slots)


def _state(name, shard, ordinal, address, lines, replication=None, dbsize=0, node_name=None):
    host, port = address.split(":")
    return PodState(Pod(name, host, int(port), shard, ordinal, node_name),
                    parse_cluster_nodes("\n".join(lines)), {"cluster_state": "ok"},
                    replication or {}, dbsize)


ID = ["%040d" % i for i in range(10)]
ADDR = ["10.0.0.%d:6379" % i for i in range(10)]


def _healthy_three_by_zero(extra_for_each=()):
    masters = [(ID[0], ADDR[0], "0-5461"), (ID[1], ADDR[1], "5462-10922"),
               (ID[2], ADDR[2], "10923-16383")]
    states = []
    for index, (node_id, address, _slots) in enumerate(masters):
        lines = []
        for other_id, other_addr, other_slots in masters:
            flags = "myself,master" if other_id == node_id else "master"
            lines.append(_line(other_id, other_addr, flags, slots=other_slots))
        lines.extend(extra_for_each)
        states.append(_state("s%d-0" % index, index, 0, address, lines, dbsize=10))
    return states


def test_plan_empty_for_a_healthy_cluster():
    plan = plan_converge(_healthy_three_by_zero(), DesiredShape(3, 0))
    assert plan.empty and plan.summary() == []


def test_plan_new_cluster_meets_sets_epochs_covers_and_replicates():
    states = []
    for shard in range(3):
        for ordinal in range(2):
            index = shard * 2 + ordinal
            states.append(_state("s%d-%d" % (shard, ordinal), shard, ordinal, ADDR[index],
                                 [_line(ID[index], ADDR[index], "myself,master")]))
    plan = plan_converge(states, DesiredShape(3, 1))
    assert len(plan.meets) == 5 and all(src.pod.name == "s0-0" for src, _ in plan.meets)
    assert [e for _, e in plan.set_epochs] == [1, 2, 3, 4, 5, 6]
    assert sorted((s.pod.name, m) for s, m in plan.replicates) == [
        ("s0-1", ID[0]), ("s1-1", ID[2]), ("s2-1", ID[4])]
    assert sorted(len(v) for v in plan.cover.values()) == [5461, 5461, 5462]
    assert plan.moves == []


def test_plan_forgets_ghosts_but_refuses_live_strangers():
    ghost = _line(ID[9], ADDR[9], "master,fail")
    plan = plan_converge(_healthy_three_by_zero([ghost]), DesiredShape(3, 0))
    assert sorted(s.pod.name for s, n in plan.forgets) == ["s0-0", "s1-0", "s2-0"]
    stranger = _line(ID[9], ADDR[9], "master", slots="0")
    with pytest.raises(ClusterStateError) as caught:
        plan_converge(_healthy_three_by_zero([stranger]), DesiredShape(3, 0))
    assert "refusing to forget a live node" in str(caught.value)


def test_plan_remeets_after_every_address_changed():
    states = _healthy_three_by_zero()
    moved = []
    for index, state in enumerate(states):
        moved.append(_state(state.pod.name, index, 0, "10.1.0.%d:6379" % index,
                            [line for line in NODES_LINES(state)], dbsize=10))
    plan = plan_converge(moved, DesiredShape(3, 0))
    assert plan.meets, "stale addresses must be re-met"
    assert all(dst.pod.host.startswith("10.1.") for _, dst in plan.meets)
    assert not plan.forgets and not plan.moves and not plan.cover


def NODES_LINES(state):
    return [_line(n.node_id, n.address, ",".join(sorted(n.flags)), slots=format_slot_ranges(
        n.slots).replace(",", " ")) for n in state.nodes.values()]


def test_plan_two_masters_with_slots_in_one_shard_is_refused():
    states = _healthy_three_by_zero()
    twisted = [_state("s0-1", 0, 1, states[1].pod.address, NODES_LINES(states[1]), dbsize=10)]
    with pytest.raises(ClusterStateError) as caught:
        plan_converge([states[0]] + twisted + [states[2]], DesiredShape(1, 1))
    assert "refusing to guess" in str(caught.value)


def test_plan_replaced_master_still_claiming_its_slots_is_settling_not_refused():
    # Just after CLUSTER FAILOVER: s0-1 claims 0-16383 with epoch 7, s0-0 has not heard yet.
    old = _state("s0-0", 0, 0, ADDR[0], [
        _line(ID[0], ADDR[0], "myself,master", epoch=3, slots="0-16383"),
        _line(ID[1], ADDR[1], "slave", master=ID[0], epoch=3)], dbsize=5)
    new = _state("s0-1", 0, 1, ADDR[1], [
        _line(ID[1], ADDR[1], "myself,master", epoch=7, slots="0-16383"),
        _line(ID[0], ADDR[0], "master", epoch=3, slots="0-16383")], dbsize=5)
    with pytest.raises(ClusterSettlingError) as caught:
        plan_converge([old, new], DesiredShape(1, 1))
    assert "s0-0 still claims" in str(caught.value) and "s0-1" in str(caught.value)
    # Equal epochs, or an older claim reaching beyond the newer one: not a failover, refuse.
    tied = _state("s0-1", 0, 1, ADDR[1], [
        _line(ID[1], ADDR[1], "myself,master", epoch=3, slots="0-16383")], dbsize=5)
    partial = _state("s0-1", 0, 1, ADDR[1], [
        _line(ID[1], ADDR[1], "myself,master", epoch=7, slots="0-100")], dbsize=5)
    for other in (tied, partial):
        with pytest.raises(ClusterStateError) as caught:
            plan_converge([old, other], DesiredShape(1, 1))
        assert not isinstance(caught.value, ClusterSettlingError)
        assert "refusing to guess" in str(caught.value)


def test_plan_unreachable_pod_is_an_error_naming_it():
    down = PodState(Pod("s1-0", "10.0.0.1", 6379, 1, 0), error="ConnectionError: refused")
    with pytest.raises(ClusterStateError) as caught:
        plan_converge([down], DesiredShape(1, 0))
    assert "s1-0" in str(caught.value) and "refused" in str(caught.value)


def test_plan_open_slot_with_keys_on_the_importer_finishes_the_migration():
    states = _healthy_three_by_zero()
    lines = NODES_LINES(states[0])
    # The owner (s0-0) lost its MIGRATING flag in a failover; s1-0 still imports slot 5.
    s1 = NODES_LINES(states[1])
    s1 = [line + (" [5-<-%s]" % ID[0] if "myself" in line else "") for line in s1]
    states = [states[0], _state("s1-0", 1, 0, ADDR[1], s1, dbsize=10), states[2]]
    plan = plan_converge(states, DesiredShape(3, 0), slot_keys={5: {ID[1]: 3, ID[0]: 2}})
    assert [(r.slot, r.owner, r.target) for r in plan.repairs] == [(5, ID[0], ID[1])]
    assert plan.repairs[0].stale_views == []  # s1-0 still sees s0-0 owning slot 5
    assert lines  # the owner's view is unchanged input
    empty = plan_converge(states, DesiredShape(3, 0), slot_keys={5: {ID[0]: 2}})
    assert [(r.slot, r.target) for r in empty.repairs] == [(5, None)]


def test_plan_leaving_master_hands_over_to_a_synced_kept_replica():
    master = _line(ID[1], ADDR[1], "myself,master", slots="0-16383")
    replica = _line(ID[0], ADDR[0], "myself,slave", master=ID[1])
    states = [
        _state("s0-0", 0, 0, ADDR[0], [replica, _line(ID[1], ADDR[1], "master",
                                                       slots="0-16383")],
               replication={"master_link_status": "up"}),
        _state("s0-1", 0, 1, ADDR[1], [master, _line(ID[0], ADDR[0], "slave", master=ID[1])],
               dbsize=5),
    ]
    plan = plan_converge(states, DesiredShape(1, 0))
    assert [s.pod.name for s in plan.failovers] == ["s0-0"]
    assert plan.removals == []  # s0-0 still follows it
    unsynced = [_state("s0-0", 0, 0, ADDR[0], [replica, _line(ID[1], ADDR[1], "master",
                                                               slots="0-16383")],
                       replication={"master_link_status": "down"}), states[1]]
    plan = plan_converge(unsynced, DesiredShape(1, 0))
    assert plan.failovers == [] and plan.notes


def test_placement_prefers_masters_on_distinct_kubernetes_nodes():
    states = []
    nodes = ["n1", "n2", "n1", "n3"]
    for index in range(4):
        shard, ordinal = divmod(index, 2)
        states.append(_state("s%d-%d" % (shard, ordinal), shard, ordinal, ADDR[index],
                             [_line(ID[index], ADDR[index], "myself,master")],
                             node_name=nodes[index]))
    plan = plan_converge(states, DesiredShape(2, 1))
    assert plan.shard_masters[0].pod.node_name == "n1"
    assert plan.shard_masters[1].pod.name == "s1-1"  # s1-0 is on n1 too


def test_topology_lists_masters_and_replicas():
    states = _healthy_three_by_zero()
    topo = topology(states)
    assert [t["master"]["slotCount"] for t in topo] == [5462, 5461, 5461]
    assert topo[0]["master"]["slots"] == "0-5461"


def test_plan_repoints_a_replica_that_dials_its_masters_old_address():
    master = _line(ID[0], ADDR[0], "myself,master", slots="0-16383")
    replica_view = [_line(ID[1], ADDR[1], "myself,slave", master=ID[0]),
                    _line(ID[0], ADDR[0], "master", slots="0-16383")]
    master_view = [master, _line(ID[1], ADDR[1], "slave", master=ID[0])]
    stale = {"master_host": "10.9.9.9", "master_port": "6379", "master_link_status": "down"}
    states = [_state("s0-0", 0, 0, ADDR[0], master_view, dbsize=5),
              _state("s0-1", 0, 1, ADDR[1], replica_view, replication=stale)]
    plan = plan_converge(states, DesiredShape(1, 1))
    assert [(s.pod.name, m) for s, m in plan.replicates] == [("s0-1", ID[0])]
    current = {"master_host": "10.0.0.0", "master_port": "6379", "master_link_status": "up"}
    states[1] = _state("s0-1", 0, 1, ADDR[1], replica_view, replication=current)
    assert plan_converge(states, DesiredShape(1, 1)).empty


def test_repair_tells_an_importing_target_who_owns_the_slot_when_its_view_lost_it():
    """After the source failed over, the importer ignored the new owner's claim on the slot:
    RESTORE-ASKING would get CLUSTERDOWN until it learns the owner again."""
    states = _healthy_three_by_zero()
    s1 = []
    for line in NODES_LINES(states[1]):
        if line.startswith(ID[0]):
            line = line.replace(" 0-5461", " 0-4 6-5461")  # slot 5 unowned in s1-0's view
        if "myself" in line:
            line += " [5-<-%s]" % ID[9]                     # importing from the dead master
        s1.append(line)
    states = [states[0], _state("s1-0", 1, 0, ADDR[1], s1, dbsize=10), states[2]]
    plan = plan_converge(states, DesiredShape(3, 0), slot_keys={5: {ID[1]: 3, ID[0]: 2}})
    repair = plan.repairs[0]
    assert (repair.slot, repair.owner, repair.target) == (5, ID[0], ID[1])
    assert repair.stale_views == [ID[1]]
    # Without keys on the importer the slot is only marked stable, but its view is fixed too.
    empty = plan_converge(states, DesiredShape(3, 0), slot_keys={5: {ID[0]: 2}}).repairs[0]
    assert empty.target is None and empty.stale_views == [ID[1]]


# --- a shard whose node is gone: lost slots, or an heir that takes over ------------------------

def _shard_two_lost_its_volume(with_replica=False):
    """Shard 2's master (ID[2]) came back empty with a new id (ID[7]) at the same address;
    the two other masters flag the old id as failed. ``with_replica``: shard 2 also has a
    replica (ID[8]) that followed the old master and holds its data."""
    masters = [(ID[0], ADDR[0], "0-5461"), (ID[1], ADDR[1], "5462-10922")]
    ghost = _line(ID[2], ADDR[2], "master,fail", slots="10923-16383")
    heir = _line(ID[8], ADDR[8], "slave", master=ID[2])
    states = []
    for index, (node_id, address, _slots) in enumerate(masters):
        lines = [_line(o, a, "myself,master" if o == node_id else "master", slots=s)
                 for o, a, s in masters]
        lines += [ghost, _line(ID[7], ADDR[2], "master")] + ([heir] if with_replica else [])
        states.append(_state("s%d-0" % index, index, 0, address, lines, dbsize=10))
    states.append(_state("s2-0", 2, 0, ADDR[2], [_line(ID[7], ADDR[2], "myself,master")] + [
        _line(o, a, "master", slots=s) for o, a, s in masters]))
    if with_replica:
        states.append(_state(
            "s2-1", 2, 1, ADDR[8],
            [_line(ID[8], ADDR[8], "myself,slave", master=ID[2]), ghost] + [
                _line(o, a, "master", slots=s) for o, a, s in masters],
            replication={"master_link_status": "down", "slave_repl_offset": "5000"},
            dbsize=10))
    return states


def test_plan_never_covers_the_slots_of_a_gone_node_without_a_replica():
    plan = plan_converge(_shard_two_lost_its_volume(), DesiredShape(3, 0))
    assert [(lost.node_id, lost.shard, format_slot_ranges(lost.slots))
            for lost in plan.unaccepted_losses] == [(ID[2], 2, "10923-16383")]
    assert plan.cover == {} and plan.moves == []
    # The evidence stays: no pod forgets the lost node while the user has not decided.
    assert ID[2] not in [node_id for _, node_id in plan.forgets]
    assert "only copy was on node %s" % ID[2] in plan.unaccepted_losses[0].describe()


def test_plan_covers_lost_slots_empty_once_the_user_accepts_the_loss():
    plan = plan_converge(_shard_two_lost_its_volume(), DesiredShape(3, 0),
                         accepted_losses=[ID[2][:8]])
    assert plan.unaccepted_losses == [] and [lost.accepted for lost in plan.lost] == [True]
    assert {plan.name_of(m): format_slot_ranges(s) for m, s in plan.cover.items()} == {
        "s2-0": "10923-16383"}
    assert sorted(s.pod.name for s, n in plan.forgets if n == ID[2]) == ["s0-0", "s1-0"]
    # A prefix shorter than status shows (8 characters) accepts nothing.
    short = plan_converge(_shard_two_lost_its_volume(), DesiredShape(3, 0),
                          accepted_losses=[ID[2][:4]])
    assert len(short.unaccepted_losses) == 1


def test_plan_gives_a_gone_masters_slots_to_its_replica_never_to_the_empty_pod():
    plan = plan_converge(_shard_two_lost_its_volume(with_replica=True), DesiredShape(3, 1))
    assert plan.lost == []
    assert plan.shard_masters[2].pod.name == "s2-1"
    assert [s.pod.name for s in plan.takeovers] == ["s2-1"]
    assert plan.phase_pending("takeover")
    assert plan.cover == {} and plan.moves == []
    # The empty pod follows the heir; nobody is told to follow the empty pod.
    assert [(s.pod.name, m) for s, m in plan.replicates] == [("s2-0", ID[8])]
