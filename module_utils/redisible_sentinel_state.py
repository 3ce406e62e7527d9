# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Parsed state of a Sentinel deployment (Redis pods + sentinels) and the pure decisions over it.

Nothing here does I/O. ``redisible_sentinel_converge`` observes the pods and the sentinels,
asks :func:`plan_sentinel` what to do, does the first pending phase and observes again.

The rules that keep data safe:

* Redis pods start parked (a replica of an address nothing listens on, see PARKING_ADDRESS), so
  a pod that restarts, empty or not, never serves as a master on its own and never makes its
  replicas resync from it.
* The master is the one the sentinels agree on (the view with the highest config epoch). The
  operator only chooses one itself when no sentinel monitors anything (first start, or every
  sentinel restarted) or when the sentinels cannot fail over on their own (their master is gone
  and none of them can promote a replica): then it takes the pod with the most recent data.
* Sentinel state that points at addresses no pod or sentinel has any more is dropped with
  SENTINEL RESET, one sentinel at a time and only while the master is healthy: stale sentinel
  entries inflate the number of voters and can make every later failover impossible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.redisible_pods import keeps_pod
from ansible.module_utils.redisible_replies import parse_info, parse_replica_lines

# Pods start as replicas of this address: a Redis that restarts waits for the operator or the
# sentinels to tell it its master instead of becoming an (empty) master itself.
PARKING_HOST = "127.0.0.1"
PARKING_PORT = 1
PARKING_ADDRESS = "%s:%d" % (PARKING_HOST, PARKING_PORT)

DEFAULT_REPLICA_PRIORITY = 100

# The sentinel settings the operator keeps equal to the spec, by SENTINEL SET name.
SENTINEL_SETTINGS = ("down-after-milliseconds", "failover-timeout", "parallel-syncs")

PHASES = ("promote", "monitors", "settings", "priorities", "replicates", "failover", "resets")


class SentinelStateError(Exception):
    """A state the operator must not guess its way out of; the message is for humans."""


class RedisState(object):
    """What one Redis pod said: INFO replication, key count, replica-priority."""

    def __init__(self, pod, replication=None, dbsize=0, priority=DEFAULT_REPLICA_PRIORITY,
                 error=None):
        self.pod = pod
        self.replication = replication or {}
        self.dbsize = dbsize
        self.priority = priority
        self.error = error

    @classmethod
    def from_replies(cls, pod, info_text, dbsize, priority):
        return cls(pod, parse_info(info_text), int(dbsize), int(priority))

    @property
    def reachable(self):
        return self.error is None

    @property
    def is_master(self):
        return self.replication.get("role") == "master"

    @property
    def master_address(self):
        """The address a replica follows (None for a master)."""
        if self.is_master or "master_host" not in self.replication:
            return None
        return "%s:%s" % (self.replication["master_host"], self.replication.get("master_port"))

    @property
    def parked(self):
        return self.master_address == PARKING_ADDRESS

    @property
    def link_up(self):
        return self.replication.get("master_link_status") == "up"

    @property
    def offset(self):
        """Replication offset: how much of the history this pod has (masters and replicas)."""
        for key in ("master_repl_offset", "slave_repl_offset"):
            try:
                return int(self.replication[key])
            except (KeyError, ValueError):
                continue
        return 0

    @property
    def replicas(self):
        return parse_replica_lines(self.replication)


class SentinelState(object):
    """What one sentinel said about the master it monitors under the master name."""

    def __init__(self, pod, master=None, replicas=(), sentinels=(), error=None):
        self.pod = pod
        self.master = master  # SENTINEL MASTER as a dict, None when not monitoring
        self.replicas = list(replicas)
        self.sentinels = list(sentinels)
        self.error = error

    @property
    def reachable(self):
        return self.error is None

    @property
    def monitors(self):
        return self.master is not None

    @property
    def master_address(self):
        if not self.master:
            return None
        return "%s:%s" % (self.master.get("ip"), self.master.get("port"))

    @property
    def config_epoch(self):
        return int((self.master or {}).get("config-epoch", 0) or 0)

    @property
    def flags(self):
        return set((self.master or {}).get("flags", "").split(","))

    @property
    def failing_over(self):
        """A failover runs in this sentinel right now."""
        return "failover_in_progress" in self.flags or \
            (self.master or {}).get("failover-state", "none") not in ("none", "")

    @property
    def sees_master_down(self):
        return bool(self.flags & {"s_down", "o_down"})

    def sees_priorities(self, redis_states):
        """True when this sentinel's replica list shows each pod's replica-priority."""
        seen = dict(("%s:%s" % (r.get("ip"), r.get("port")), r.get("slave-priority"))
                    for r in self.replicas)
        return all(seen.get(s.pod.address) == str(s.priority) for s in redis_states
                   if not s.is_master)

    def known_replica_addresses(self):
        return set("%s:%s" % (r.get("ip"), r.get("port")) for r in self.replicas)

    def known_sentinel_addresses(self):
        return set("%s:%s" % (s.get("ip"), s.get("port")) for s in self.sentinels)


class SentinelShape(object):
    """What the spec asks for."""

    def __init__(self, master_name, replicas, quorum, settings=None,
                 replica_priority=DEFAULT_REPLICA_PRIORITY, previous_master=None):
        if replicas < 1:
            raise SentinelStateError("a Sentinel deployment needs at least one Redis pod")
        if quorum < 1:
            raise SentinelStateError("quorum must be at least 1")
        self.master_name = master_name
        self.replicas = int(replicas)
        self.quorum = int(quorum)
        self.settings = dict((k, str(v)) for k, v in (settings or {}).items())
        self.replica_priority = int(replica_priority)
        self.previous_master = previous_master

    def keeps(self, pod):
        return keeps_pod(0, pod.ordinal, 1, self.replicas)


class SentinelPlan(object):
    def __init__(self, redis_states, sentinel_states, shape):
        self.redis_states = redis_states
        self.sentinel_states = sentinel_states
        self.shape = shape
        self.master = None          # RedisState of the master (chosen or agreed)
        self.chosen_by = None       # "sentinels" or "operator"
        self.promote = None         # RedisState to make master (REPLICAOF NO ONE)
        self.monitors = []          # SentinelState to (re)point at the master
        self.settings = []          # (SentinelState, {setting: value})
        self.priorities = []        # (RedisState, replica-priority)
        self.replicates = []        # RedisState to point at the master
        self.failover = None        # SentinelState asked for a failover (SENTINEL FAILOVER)
        self.failover_reason = None
        self.resets = []            # SentinelState with stale entries (reset one at a time)
        self.notes = []             # what the converge waits for

    def pending(self, phase):
        value = getattr(self, phase)
        return bool(value) if not isinstance(value, RedisState) else True

    def first_pending_phase(self):
        for phase in PHASES:
            if self.pending(phase):
                return phase
        return None

    @property
    def empty(self):
        return self.first_pending_phase() is None

    def summary(self):
        out = []
        if self.promote is not None:
            out.append("promote %s to master (%s)" % (self.promote.pod.name, self.chosen_by))
        master = self.master.pod if self.master else None
        for state in self.monitors:
            out.append("point sentinel %s at %s" % (state.pod.name,
                                                    master.name if master else "?"))
        for state, changes in self.settings:
            out.append("sentinel %s: set %s" % (state.pod.name, ", ".join(
                "%s %s" % item for item in sorted(changes.items()))))
        for state, priority in self.priorities:
            out.append("replica-priority %d on %s" % (priority, state.pod.name))
        for state in self.replicates:
            out.append("%s follows %s" % (state.pod.name, master.name if master else "?"))
        if self.failover is not None:
            out.append("ask sentinel %s to fail over (%s)" % (self.failover.pod.name,
                                                              self.failover_reason))
        for state in self.resets[:1]:
            out.append("reset sentinel %s (stale addresses)" % state.pod.name)
        return out


def choose_master(candidates, previous_master=None):
    """The pod with the most recent data: never an empty pod over one that holds keys (after a
    full restart every pod reports offset 0, and a master whose volume was lost comes back
    empty); then a real master, the highest replication offset, the master of the last status,
    the most keys, the lowest ordinal."""
    if not candidates:
        return None
    return max(candidates, key=lambda s: (s.dbsize > 0, s.is_master, s.offset,
                                          s.pod.name == previous_master, s.dbsize,
                                          -s.pod.ordinal))


def sentinel_view(sentinel_states):
    """The master address the sentinels agree on: the highest config epoch, then the most
    sentinels. Returns (address, [SentinelState holding it]) or (None, [])."""
    views = {}
    for state in sentinel_states:
        if state.reachable and state.monitors:
            views.setdefault(state.master_address, []).append(state)
    if not views:
        return None, []
    address = max(views, key=lambda a: (max(s.config_epoch for s in views[a]), len(views[a])))
    return address, views[address]


def _sentinels_can_fail_over(holders, live_redis, address, total_sentinels, quorum):
    """True when the sentinels holding ``address`` can elect a leader and have a replica of it
    that answers: then the choice is theirs and the operator waits."""
    needed = max(quorum, total_sentinels // 2 + 1)
    if len(holders) < needed:
        return False
    known = set()
    for holder in holders:
        known |= holder.known_replica_addresses()
    return any(not s.is_master and s.master_address == address and s.pod.address in known
               for s in live_redis)


def plan_sentinel(redis_states, sentinel_states, shape):
    """Decide the next steps. Pure: every input is parsed state."""
    plan = SentinelPlan(redis_states, sentinel_states, shape)
    live = [s for s in redis_states if s.reachable]
    live_sentinels = [s for s in sentinel_states if s.reachable]
    by_address = dict((s.pod.address, s) for s in live)
    for state in redis_states:
        if not state.reachable:
            plan.notes.append("Redis pod %s does not answer (%s)" % (state.pod.name, state.error))
    for state in sentinel_states:
        if not state.reachable:
            plan.notes.append("sentinel %s does not answer (%s)" % (state.pod.name, state.error))
    if not live:
        plan.notes.append("no Redis pod answers")
        return plan

    address, holders = sentinel_view(live_sentinels)
    target = by_address.get(address) if address else None
    can_fail_over = bool(address) and _sentinels_can_fail_over(
        holders, live, address, len(sentinel_states), shape.quorum)
    # A master the sentinels see down (objectively, or a quorum subjectively: one sentinel
    # alone may just have a bad link) is theirs to replace only when they can: with no replica
    # they know answering, their attempts end in -failover-abort-no-good-slave forever.
    seen_down = any("o_down" in s.flags for s in holders) or \
        len([s for s in holders if s.sees_master_down]) >= shape.quorum
    busy = [s for s in holders if s.failing_over or
            (s.sees_master_down and seen_down and can_fail_over)]
    if address and busy:
        plan.notes.append("the sentinels are failing over from %s (%s)" % (address, "; ".join(
            "%s: %s, failover-state %s" % (s.pod.name, ",".join(sorted(s.flags)),
                                           s.master.get("failover-state", "none"))
            for s in busy)))
        return plan
    if target is not None and target.is_master:
        plan.master, plan.chosen_by = target, "sentinels"
    elif can_fail_over:
        if target is not None and target.parked:
            # The master restarted (its pod came back parked at the same address). Sentinels
            # notice a master that reports itself as a replica only after down-after + 20 s,
            # by when their own rules may exclude every replica: ask them now; they choose.
            plan.failover = holders[0]
            plan.failover_reason = "master %s restarted and is parked" % target.pod.name
        plan.notes.append("master %s %s; waiting for the sentinels to fail over" % (
            address, "restarted" if target is not None else "is gone"))
        return plan
    else:
        # Nobody monitors anything, or the sentinels' master is gone with nothing they could
        # promote: the operator picks the pod with the most recent data, staying pods first.
        staying = [s for s in live if shape.keeps(s.pod)] or live
        plan.master = choose_master(staying, shape.previous_master)
        plan.chosen_by = "operator"
        if not plan.master.is_master:
            plan.promote = plan.master
    master = plan.master
    master_address = master.pod.address
    known_sentinels = set(s.pod.address for s in live_sentinels)
    live_addresses = set(by_address)

    for state in live_sentinels:
        stale = state.monitors and state.master_address not in live_addresses
        if not state.monitors or stale or (plan.chosen_by == "operator"
                                           and state.master_address != master_address):
            plan.monitors.append(state)
        elif state.master_address == master_address:
            wanted = dict(shape.settings, quorum=str(shape.quorum))
            changes = dict((k, v) for k, v in wanted.items() if state.master.get(k) != v)
            if changes:
                plan.settings.append((state, changes))
        elif not by_address[state.master_address].is_master:
            # Its master now serves as a replica, and a newer view names a live master: it
            # missed the switch (and would retry failovers that cannot succeed): re-point it.
            plan.monitors.append(state)
        else:
            plan.notes.append("sentinel %s sees %s as master too: two pods serve as master, the "
                              "sentinels' newest choice is %s" % (
                                  state.pod.name, state.master_address, master.pod.name))

    for state in live:
        wanted = shape.replica_priority if shape.keeps(state.pod) else 0
        if state.priority != wanted:
            plan.priorities.append((state, wanted))
    # Demoting a pod that serves as master is only safe on a complete view: a sentinel that
    # does not answer may be the one (with the newest epoch) that names it master.
    everyone_answered = all(s.reachable for s in sentinel_states)
    for state in live:
        if state is not master and state.master_address != master_address:
            if state.is_master and not everyone_answered:
                plan.notes.append("%s also serves as master; not demoting it while a sentinel "
                                  "does not answer" % state.pod.name)
                continue
            plan.replicates.append(state)

    if not shape.keeps(master.pod):
        staying_synced = [s for s in live if s is not master and shape.keeps(s.pod)
                          and s.master_address == master_address and s.link_up]
        # Sentinels read replica-priority every 10 s: ask one that already sees the leaving
        # pods at 0, or it may promote one of them.
        agreeing = [s for s in live_sentinels if s.master_address == master_address
                    and s.sees_priorities(live)]
        if staying_synced and agreeing:
            plan.failover = agreeing[0]
            plan.failover_reason = "master %s is leaving" % master.pod.name
        else:
            plan.notes.append("master %s is leaving; waiting for a staying replica in sync "
                              "and a sentinel that sees the replica priorities" % master.pod.name)

    if plan.first_pending_phase() is None:
        replica_addresses = set(s.pod.address for s in live if s is not master)
        for state in live_sentinels:
            if state.master_address != master_address:
                continue
            others = known_sentinels - {state.pod.address}
            stale_replicas = state.known_replica_addresses() - replica_addresses
            stale_sentinels = state.known_sentinel_addresses() - others
            if stale_replicas or stale_sentinels:
                plan.resets.append(state)
                continue
            if state.sees_master_down and master.is_master:
                # The master answers and the others see it up: this sentinel's link is bad
                # (a 5.0 sentinel that met the master before it had the password keeps
                # getting NOAUTH and never reconnects). A reset opens new links.
                plan.resets.append(state)
                continue
            missing = (others - state.known_sentinel_addresses()) | \
                (replica_addresses - state.known_replica_addresses())
            if missing:
                plan.notes.append("sentinel %s has not discovered %s yet" % (
                    state.pod.name, ", ".join(sorted(missing))))
        for state in live:
            if state is not master and not state.link_up:
                plan.notes.append("%s is syncing from the master" % state.pod.name)
    return plan


def topology(plan):
    """The status view: master, replicas with link state and lag, sentinels with their view."""
    master = plan.master
    master_offset = master.offset if master else 0
    out = {"master": None, "replicas": [], "sentinels": []}
    if master is not None:
        out["master"] = {"pod": master.pod.name, "ip": master.pod.host, "port": master.pod.port,
                         "node": master.pod.node_name, "keys": master.dbsize}
    for state in sorted(plan.redis_states, key=lambda s: s.pod.ordinal):
        if state is master:
            continue
        out["replicas"].append({
            "pod": state.pod.name, "ip": state.pod.host, "port": state.pod.port,
            "node": state.pod.node_name,
            "linkStatus": ("unreachable" if not state.reachable else
                           "up" if state.link_up and master is not None
                           and state.master_address == master.pod.address else "down"),
            "lagBytes": max(0, master_offset - state.offset) if state.reachable else None,
            "keys": state.dbsize})
    for state in sorted(plan.sentinel_states, key=lambda s: s.pod.ordinal):
        out["sentinels"].append({
            "pod": state.pod.name, "ip": state.pod.host, "port": state.pod.port,
            "node": state.pod.node_name,
            "master": state.master_address if state.reachable else None,
            "knownSentinels": len(state.sentinels), "knownReplicas": len(state.replicas),
            "reachable": state.reachable})
    return out


def placement_conflicts(plan):
    """Redis pods sharing a Kubernetes node (when node names are known)."""
    by_node = {}
    for state in plan.redis_states:
        if state.pod.node_name:
            by_node.setdefault(state.pod.node_name, []).append(state.pod.name)
    return ["%s share node %s" % (", ".join(sorted(names)), node)
            for node, names in sorted(by_node.items()) if len(names) > 1]
