# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Converge a live Redis Cluster to a desired shape: observe, plan one phase, act, repeat.

The decisions live in ``redisible_cluster_state.plan_converge`` (pure); this file only reads
state from the pods, executes the first pending phase of the plan and waits for the cluster to
settle before planning again. Observation sends read-only commands only, so a converge with
nothing to do writes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.module_utils.redisible_cluster_state import (
    ClusterSettlingError,
    ClusterStateError,
    DesiredShape,
    PodState,
    observed_owners,
    plan_converge,
    topology,
)
from ansible.module_utils.redisible_pods import Pod
from ansible.module_utils.redisible_redis import Node, error_text
from ansible.module_utils.redisible_replies import (
    SLOT_COUNT,
    ReplyError,
    parse_cluster_nodes,
    parse_info,
    reply_text,
)
from ansible.module_utils.redisible_slot_migration import (
    MIGRATION_DEFAULTS,
    MigrationError,
    SlotMover,
)


class ConvergeError(Exception):
    pass


class ClusterConverger(object):
    """Drives one converge. ``pods``: dicts with name, host, port, shard, ordinal, node_name."""

    def __init__(self, pods, shards, replicas_per_shard, password=None, timeout=300,
                 migration=None, log=None, progress=None, accepted_losses=()):
        self.pods = [Pod.from_params(p) for p in pods]
        self.desired = DesiredShape(shards, replicas_per_shard)
        self.password = password
        self.timeout = timeout
        self.migration = dict(migration or {})
        self.log = log or (lambda message: None)
        self.progress = progress
        self.accepted_losses = list(accepted_losses or ())
        self.covered_losses = []  # LostSlots the user accepted, covered empty by this run
        self._lost = []           # unaccepted LostSlots of the last plan: the cluster stays down
        self.actions = []
        self.slots_moved = 0
        self.keys_moved = 0
        self._nodes = {}
        self._deadline = None
        self._move_total = 0

    # -- I/O edge -------------------------------------------------------------------------------

    def node(self, pod):
        key = pod.address
        if key not in self._nodes:
            self._nodes[key] = Node(pod.host, pod.port, self.password)
        return self._nodes[key]

    def close(self):
        for node in self._nodes.values():
            node.close()

    def observe_pod(self, pod):
        try:
            pipe = self.node(pod).pipeline()
            pipe.execute_command("CLUSTER", "NODES")
            pipe.execute_command("CLUSTER", "INFO")
            pipe.execute_command("INFO", "replication")
            pipe.execute_command("DBSIZE")
            nodes, info, replication, dbsize = pipe.execute()
            return PodState(pod, parse_cluster_nodes(reply_text(nodes)),
                            parse_info(reply_text(info)), parse_info(reply_text(replication)),
                            int(dbsize))
        except Exception as exc:  # every failure becomes a reason in the plan, not a crash
            return PodState(pod, error=error_text(exc))

    def observe(self):
        return [self.observe_pod(pod) for pod in self.pods]

    def slot_keys(self, states, slots):
        """{slot: {node id: keys}} over the masters that hold any keys at all."""
        result = {}
        slots = sorted(slots)
        for state in states:
            if not state.reachable or not state.myself.is_master or not state.dbsize:
                continue
            pipe = self.node(state.pod).pipeline()
            for slot in slots:
                pipe.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
            for slot, count in zip(slots, pipe.execute()):
                if count:
                    result.setdefault(slot, {})[state.node_id] = int(count)
        return result

    # How long a state that Redis settles by itself (see ClusterSettlingError) may last.
    SETTLING_GRACE = 30

    def plan(self, states=None):
        settle_until = time.time() + self.SETTLING_GRACE
        logged = None
        while True:
            states = states or self.observe()
            try:
                return self._plan(states)
            except ClusterSettlingError as exc:
                if time.time() > settle_until:
                    raise ClusterStateError("%s (for over %ds)" % (exc, self.SETTLING_GRACE))
                if str(exc) != logged:
                    logged = str(exc)
                    self.log("waiting: %s" % exc)
                states = None
                time.sleep(0.2)

    def _plan(self, states):
        plan = plan_converge(states, self.desired, accepted_losses=self.accepted_losses)
        suspicious = set(r.slot for r in plan.repairs)
        if suspicious or any(plan.cover.values()):
            owned = set(observed_owners([s for s in states if s.reachable and s.myself]))
            suspicious |= set(range(SLOT_COUNT)) - owned
            plan = plan_converge(states, self.desired, self.slot_keys(states, suspicious),
                                 accepted_losses=self.accepted_losses)
        self._lost = plan.unaccepted_losses
        for lost in plan.lost:
            # Recorded when first seen: forget_ghosts drops the lost node before cover_slots.
            if lost.accepted and lost.node_id not in [c.node_id for c in self.covered_losses]:
                self.covered_losses.append(lost)
                self.log("accepted loss: " + lost.describe())
        return states, plan

    # -- the loop -------------------------------------------------------------------------------

    def check(self):
        states, plan = self.plan()
        return self._result(states, plan, changed=not plan.empty, actions=plan.summary())

    def run(self):
        self._deadline = time.time() + self.timeout
        states, plan = self.plan()
        while True:
            phase = plan.first_pending_phase()
            if phase is not None and time.time() > self._deadline:
                raise ConvergeError("timed out after %ds; still to do: %s" % (
                    self.timeout, "; ".join(plan.summary()[:5])))
            if phase is None:
                if not plan.notes:
                    break
                self._sleep_or_fail("; ".join(plan.notes))
                states, plan = self.plan()
                continue
            # Not before repair_slots: a node still IMPORTING from a master that failed over
            # ignores the new owner's claim on that slot (Redis leaves importing slots to the
            # operator), so agreement only comes back once the repair has closed the slot.
            if phase in ("move_slots", "cover_slots"):
                states = self.wait_for_agreement(phase)
                states, plan = self.plan(states)
                if plan.first_pending_phase() != phase:
                    continue
            self.log("phase %s: %s" % (phase, "; ".join(plan.summary()[:5])))
            getattr(self, "_do_" + phase)(plan)
            states, plan = self._settle(phase)
        if self.actions:
            states = self.wait_for_agreement("final", need_replicas_synced=True)
            states, plan = self.plan(states)
        return self._result(states, plan, changed=bool(self.actions), actions=self.actions)

    def _settle(self, phase):
        """Re-observe until the phase just done is no longer pending (or give up quietly: the
        main loop then does it again, bounded by the deadline)."""
        settle_until = min(self._deadline, time.time() + 15)
        while True:
            states, plan = self.plan()
            if not plan.phase_pending(phase) or time.time() > settle_until:
                return states, plan
            time.sleep(0.2)

    def _sleep_or_fail(self, waiting_for):
        if time.time() > self._deadline:
            raise ConvergeError("timed out after %ds waiting: %s" % (self.timeout, waiting_for))
        time.sleep(0.5)

    def wait_for_agreement(self, why, need_replicas_synced=False):
        """Every member says cluster_state:ok and every view maps slots to the same owners;
        moving slots earlier fails with CLUSTERDOWN and leaves slots half-open."""
        while True:
            states = self.observe()
            problems = self._agreement_problems(states, need_replicas_synced)
            if not problems:
                return states
            if time.time() > self._deadline:
                raise ConvergeError("timed out after %ds before %s: %s" % (
                    self.timeout, why, "; ".join(problems[:5])))
            time.sleep(0.2)

    def _agreement_problems(self, states, need_replicas_synced):
        problems = []
        members = [s for s in states if s.reachable and (self.desired.keeps(s.pod)
                                                         or not s.knows_only_itself)]
        reference = None
        for state in states:
            if not state.reachable:
                problems.append("%s unreachable (%s)" % (state.pod.name, state.error))
        # Only some pods still know the lost node (a pod met later never hears of it): views
        # agree or not on the other slots.
        lost_slots = set(slot for lost in self._lost for slot in lost.slots)
        covered = set()
        for state in members:
            for line in state.nodes.values():
                if line.is_master:
                    covered |= line.slots
        for state in members:
            # Uncovered slots fail the cluster by design; cover_slots is what fixes that. Lost
            # slots keep it failed until the user decides: the rest still converges.
            if len(covered) == SLOT_COUNT and not state.cluster_ok and not self._lost:
                problems.append("%s reports cluster_state:%s" % (
                    state.pod.name, state.cluster_info.get("cluster_state")))
            view = {}
            for line in state.nodes.values():
                if line.is_master:
                    for slot in line.slots - lost_slots:
                        view[slot] = line.node_id
            if reference is None:
                reference = (state, view)
            elif view != reference[1]:
                problems.append("%s and %s disagree on slot owners" % (
                    state.pod.name, reference[0].pod.name))
            if need_replicas_synced and state.myself.is_replica and \
                    state.replication.get("master_link_status") != "up":
                problems.append("%s: replication link %s" % (
                    state.pod.name, state.replication.get("master_link_status")))
        return problems

    # -- phases ---------------------------------------------------------------------------------

    def _act(self, message):
        self.actions.append(message)
        self.log(message)

    def _do_meet(self, plan):
        for state, epoch in plan.set_epochs:
            self.node(state.pod).call("CLUSTER", "SET-CONFIG-EPOCH", epoch)
            self._act("set config epoch %d on %s" % (epoch, state.pod.name))
        for src, dst in plan.meets:
            self.node(src.pod).call("CLUSTER", "MEET", dst.pod.host, dst.pod.port)
            self._act("meet: %s -> %s (%s)" % (src.pod.name, dst.pod.name, dst.pod.address))

    def _do_takeover(self, plan):
        # The master is none of the pods any more (plan_converge checked every pod's id), so no
        # live node can claim these slots back: TAKEOVER needs no vote of the other masters
        # (a one-shard cluster has none that could give it).
        for state in plan.takeovers:
            self.node(state.pod).call("CLUSTER", "FAILOVER", "TAKEOVER")
            self._act("takeover: %s takes the slots of its gone master %s" % (
                state.pod.name, state.myself.master_id[:8]))

    def _do_forget_ghosts(self, plan):
        for state, node_id in plan.forgets:
            try:
                self.node(state.pod).call("CLUSTER", "FORGET", node_id)
            except Exception as exc:
                if "Unknown node" not in str(exc):
                    raise ConvergeError("forget %s on %s: %s" % (node_id, state.pod.name,
                                                                 error_text(exc)))
            self._act("forget gone node %s on %s" % (node_id[:8], state.pod.name))

    def _do_replicate(self, plan):
        for state, master_id in plan.replicates:
            try:
                self.node(state.pod).call("CLUSTER", "REPLICATE", master_id)
            except Exception as exc:
                raise ConvergeError("%s cannot follow %s: %s" % (state.pod.name, master_id,
                                                                 error_text(exc)))
            self._act("replicate: %s follows %s" % (state.pod.name, plan.name_of(master_id)))

    def _do_failover(self, plan):
        for state in plan.failovers:
            self.node(state.pod).call("CLUSTER", "FAILOVER")
            self._act("failover: promote %s" % state.pod.name)

    def _mover(self, states):
        nodes, addresses = {}, {}
        timeout_ms = self.migration.get("migrate_timeout_ms") or \
            MIGRATION_DEFAULTS["migrate_timeout_ms"]
        for state in states:
            if state.reachable and state.myself.is_master:
                nodes[state.node_id] = Node(state.pod.host, state.pod.port, self.password,
                                            timeout=max(30.0, timeout_ms / 1000.0 * 4))
                addresses[state.node_id] = (state.pod.host, state.pod.port)
        return SlotMover(nodes, addresses, password=self.password, progress=self._progress,
                         **self.migration)

    def _progress(self, slots, keys, final=False):
        if self.progress:
            self.progress(self.slots_moved + slots, self._move_total, self.keys_moved + keys,
                          final=final)

    def _do_repair_slots(self, plan):
        states = plan.states
        by_id = dict((s.node_id, s) for s in states if s.reachable)
        # First give every node that lost track of an open slot's owner its owner back: one
        # unowned slot keeps a node's whole cluster down, so they all go before any move.
        told = set()
        for repair in plan.repairs:
            for node_id in repair.stale_views:
                node = self.node(by_id[node_id].pod)
                if node_id != repair.target:
                    node.call("CLUSTER", "SETSLOT", repair.slot, "STABLE")
                node.call("CLUSTER", "SETSLOT", repair.slot, "NODE", repair.owner)
                told.add(node_id)
        for node_id in told:
            self._wait_cluster_ok(self.node(by_id[node_id].pod), seconds=15)
        mover = self._mover(states)  # one set of connections serves every repaired slot
        try:
            for repair in plan.repairs:
                third = [n for n in repair.open_on if n not in (repair.owner, repair.target)]
                if repair.target is None:
                    third = repair.open_on
                for node_id in third:
                    self.node(by_id[node_id].pod).call("CLUSTER", "SETSLOT", repair.slot,
                                                       "STABLE")
                if repair.target is not None:
                    try:
                        mover.finish_slot(repair.slot, repair.owner, repair.target)
                    except MigrationError as exc:
                        raise ConvergeError("repair of slot %d failed: %s" % (repair.slot, exc))
                self._act("repair " + repair.describe())
        finally:
            self.slots_moved += mover.slots_moved
            self.keys_moved += mover.keys_moved
            self._close_mover(mover)

    @staticmethod
    def _wait_cluster_ok(node, seconds):
        """Give a node whose slot view was just corrected time to report cluster_state:ok
        (the slot mover backs off on CLUSTERDOWN anyway, so this only shortens the wait)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if b"cluster_state:ok" in node.call("CLUSTER", "INFO"):
                return
            time.sleep(0.1)

    def _do_cover_slots(self, plan):
        for master_id, slots in sorted(plan.cover.items()):
            state = plan.state_of(master_id)
            for start in range(0, len(slots), 2000):
                self.node(state.pod).call("CLUSTER", "ADDSLOTS", *slots[start:start + 2000])
            self._act("assign %d slots to %s" % (len(slots), state.pod.name))

    def _do_move_slots(self, plan):
        mover = self._mover(plan.states)
        started = time.time()
        self._move_total = self.slots_moved + len(plan.moves)
        self._progress(0, 0)
        try:
            mover.move(plan.moves)
            self._progress(mover.slots_moved, mover.keys_moved, final=True)
        except MigrationError as exc:
            raise ConvergeError("slot migration failed (the next converge resumes it): %s" % exc)
        finally:
            self.slots_moved += mover.slots_moved
            self.keys_moved += mover.keys_moved
            self._close_mover(mover)
        self._act("moved %d slots and %d keys in %.1fs" % (mover.slots_moved, mover.keys_moved,
                                                          time.time() - started))

    @staticmethod
    def _close_mover(mover):
        for node in mover.nodes.values():
            node.close()

    def _do_remove_nodes(self, plan):
        kept = [s for s in plan.states if s.reachable and self.desired.keeps(s.pod)]
        for leaving in plan.removals:
            for state in kept:
                if leaving.node_id in state.nodes:
                    try:
                        self.node(state.pod).call("CLUSTER", "FORGET", leaving.node_id)
                    except Exception as exc:
                        if "Unknown node" not in str(exc):
                            raise ConvergeError("forget %s on %s: %s" % (
                                leaving.pod.name, state.pod.name, error_text(exc)))
        for leaving in plan.removals:
            try:
                self.node(leaving.pod).call("CLUSTER", "RESET", "HARD")
            except Exception as exc:
                raise ConvergeError("reset of leaving %s failed: %s" % (leaving.pod.name,
                                                                        error_text(exc)))
            self._act("removed %s (%s) from the cluster" % (leaving.pod.name,
                                                            leaving.node_id[:8]))

    # -- result ---------------------------------------------------------------------------------

    def _result(self, states, plan, changed, actions):
        masters = [s for s in states if s.reachable and s.myself and s.myself.is_master
                   and s.myself.slots]
        return {
            "changed": changed,
            "actions": actions,
            "slots_moved": self.slots_moved,
            "slots_to_move": len(plan.moves),
            "keys_moved": self.keys_moved,
            "topology": topology([s for s in states if self.desired.keeps(s.pod)]),
            "placement_conflicts": plan.placement_conflicts,
            "notes": plan.notes,
            "cluster_ok": all(s.cluster_ok for s in states
                              if s.reachable and self.desired.keeps(s.pod)),
            "masters": len(masters),
            "keys": sum(s.dbsize for s in masters),
            # Slots left uncovered because their data is gone: the user decides (status
            # ShardDataLost); and the losses the user accepted that this run covered empty.
            "lost_slots": [lost.as_dict() for lost in plan.unaccepted_losses],
            "lost_messages": [lost.describe() for lost in plan.unaccepted_losses],
            "accepted_losses": [lost.as_dict() for lost in self.covered_losses],
        }


def converge(pods, shards, replicas_per_shard, password=None, check_mode=False, **options):
    """Entry point for the module: returns the result dict or raises ConvergeError."""
    converger = ClusterConverger(pods, shards, replicas_per_shard, password=password, **options)
    try:
        return converger.check() if check_mode else converger.run()
    except (ClusterStateError, ReplyError) as exc:
        raise ConvergeError(str(exc))
    except ConvergeError:
        raise
    except Exception as exc:  # a pod went away mid-phase: a reason, never a traceback
        raise ConvergeError("converge interrupted: %s (the next converge resumes)" % (
            error_text(exc)))
    finally:
        converger.close()
