# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Converge a Sentinel deployment: observe, plan one phase, act, repeat.

Decisions live in ``redisible_sentinel_state.plan_sentinel`` (pure). Observation is read-only,
so a converge with nothing to do writes nothing. Waiting (for the sentinels to fail over, or
to discover each other after a reset) is bounded by the timeout and reported as the reason.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.module_utils.redisible_pods import Pod
from ansible.module_utils.redisible_redis import Node, error_text
from ansible.module_utils.redisible_replies import pairs_to_dict, reply_text
from ansible.module_utils.redisible_sentinel_state import (
    PARKING_HOST,
    PARKING_PORT,
    RedisState,
    SentinelShape,
    SentinelState,
    SentinelStateError,
    placement_conflicts,
    plan_sentinel,
    topology,
)


class SentinelConvergeError(Exception):
    pass




class SentinelConverger(object):
    """``redis_pods``/``sentinels``: dicts with name, host, port, ordinal, node_name."""

    def __init__(self, redis_pods, sentinels, shape, password=None, timeout=300, log=None):
        self.redis_pods = [Pod.from_params(p) for p in redis_pods]
        self.sentinels = [Pod.from_params(p, default_port=26379) for p in sentinels]
        self.shape = shape
        self.password = password
        self.timeout = timeout
        self.log = log or (lambda message: None)
        self.actions = []
        self._nodes = {}
        self._deadline = None

    # -- I/O edge -------------------------------------------------------------------------------

    def node(self, member):
        if member.address not in self._nodes:
            self._nodes[member.address] = Node(member.host, member.port, self.password,
                                               connect_timeout=3.0, retry=False)
        return self._nodes[member.address]

    def close(self):
        for node in self._nodes.values():
            node.close()

    def observe_redis(self, pod):
        try:
            pipe = self.node(pod).pipeline()
            pipe.execute_command("INFO", "replication")
            pipe.execute_command("DBSIZE")
            pipe.execute_command("CONFIG", "GET", "replica-priority")
            info, dbsize, priority = pipe.execute()
            return RedisState.from_replies(pod, reply_text(info), dbsize,
                                           reply_text(priority[1]) if len(priority) > 1 else 100)
        except Exception as exc:  # every failure becomes a reason in the plan, not a crash
            return RedisState(pod, error=error_text(exc))

    def observe_sentinel(self, sentinel):
        name = self.shape.master_name
        node = self.node(sentinel)
        try:
            try:
                master = pairs_to_dict(node.call("SENTINEL", "MASTER", name))
            except Exception as exc:
                if "No such master" in str(exc):
                    return SentinelState(sentinel)
                raise
            replicas = [pairs_to_dict(r) for r in node.call("SENTINEL", "SLAVES", name)]
            peers = [pairs_to_dict(s) for s in node.call("SENTINEL", "SENTINELS", name)]
            return SentinelState(sentinel, master, replicas, peers)
        except Exception as exc:
            return SentinelState(sentinel, error=error_text(exc))

    def observe(self):
        return ([self.observe_redis(p) for p in self.redis_pods],
                [self.observe_sentinel(s) for s in self.sentinels])

    def plan(self):
        redis_states, sentinel_states = self.observe()
        return plan_sentinel(redis_states, sentinel_states, self.shape)

    # -- the loop -------------------------------------------------------------------------------

    def check(self):
        plan = self.plan()
        return self._result(plan, changed=not plan.empty, actions=plan.summary())

    def run(self):
        self._deadline = time.time() + self.timeout
        plan = self.plan()
        while True:
            phase = plan.first_pending_phase()
            if phase is None and not plan.notes:
                break
            if time.time() > self._deadline:
                raise SentinelConvergeError("timed out after %ds; %s" % (
                    self.timeout, "; ".join((plan.summary() or plan.notes)[:5])))
            if phase is None:
                time.sleep(0.5)
                plan = self.plan()
                continue
            self.log("phase %s: %s" % (phase, "; ".join(plan.summary()[:5])))
            getattr(self, "_do_" + phase)(plan)
            plan = self._settle(phase, plan)
        return self._result(plan, changed=bool(self.actions), actions=self.actions)

    def _settle(self, phase, done):
        """Re-observe until the phase just done is no longer pending. A failover may take the
        sentinels up to failover-timeout; the other phases settle within seconds."""
        seconds = 15
        if phase == "failover":
            seconds = int(self.shape.settings.get("failover-timeout", 60000)) / 1000.0 + 15
        settle_until = min(self._deadline, time.time() + seconds)
        reset = done.resets[0].pod if phase == "resets" else None
        while True:
            plan = self.plan()
            still = plan.pending(phase)
            if reset is not None:
                # The reset sentinel must have found every peer and replica again before the
                # next one forgets them: one blind sentinel at a time.
                blind = "sentinel %s has not discovered" % reset.name
                still = any(s.pod.address == reset.address for s in plan.resets) or any(
                    note.startswith(blind) for note in plan.notes)
            if phase == "failover":
                still = plan.master is None or not self.shape.keeps(plan.master.pod)
            if not still or time.time() > settle_until:
                return plan
            time.sleep(0.2)

    # -- phases ---------------------------------------------------------------------------------

    def _act(self, message):
        self.actions.append(message)
        self.log(message)

    def _do_promote(self, plan):
        self.node(plan.promote.pod).call("REPLICAOF", "NO", "ONE")
        self._act("promoted %s to master (%s, offset %d, %d keys)" % (
            plan.promote.pod.name, "chosen by the operator", plan.promote.offset,
            plan.promote.dbsize))

    def _do_monitors(self, plan):
        name = self.shape.master_name
        master = plan.master.pod
        for state in plan.monitors:
            node = self.node(state.pod)
            if state.monitors:
                node.call("SENTINEL", "REMOVE", name)
            node.call("SENTINEL", "MONITOR", name, master.host, master.port, self.shape.quorum)
            settings = []
            if self.password:
                settings += ["auth-pass", self.password]
            for key, value in sorted(self.shape.settings.items()):
                settings += [key, value]
            if settings:
                node.call("SENTINEL", "SET", name, *settings)
            if self.password:
                # Between MONITOR and SET the sentinel may already have connected without the
                # password; 5.0 keeps such a link (NOAUTH on every ping) and calls the master
                # down. A reset reconnects with the password (a fresh monitor loses nothing).
                node.call("SENTINEL", "RESET", name)
            self._act("sentinel %s monitors %s (%s)" % (state.pod.name, master.name,
                                                         master.address))

    def _do_settings(self, plan):
        for state, changes in plan.settings:
            args = []
            for key, value in sorted(changes.items()):
                args += [key, value]
            self.node(state.pod).call("SENTINEL", "SET", self.shape.master_name, *args)
            self._act("sentinel %s: set %s" % (state.pod.name, ", ".join(
                "%s %s" % item for item in sorted(changes.items()))))

    def _do_priorities(self, plan):
        for state, priority in plan.priorities:
            self.node(state.pod).call("CONFIG", "SET", "replica-priority", priority)
            self._act("replica-priority %d on %s" % (priority, state.pod.name))

    def _do_replicates(self, plan):
        master = plan.master.pod
        for state in plan.replicates:
            try:
                self.node(state.pod).call("REPLICAOF", master.host, master.port)
            except Exception as exc:
                raise SentinelConvergeError("%s cannot follow %s: %s" % (
                    state.pod.name, master.name, error_text(exc)))
            self._act("%s follows %s (%s)" % (state.pod.name, master.name, master.address))

    def _do_failover(self, plan):
        try:
            self.node(plan.failover.pod).call("SENTINEL", "FAILOVER", self.shape.master_name)
        except Exception as exc:
            if "INPROG" not in str(exc):  # a failover already runs: what we asked for
                raise SentinelConvergeError("sentinel %s cannot fail over (%s): %s" % (
                    plan.failover.pod.name, plan.failover_reason, error_text(exc)))
        self._act("asked sentinel %s to fail over (%s)" % (plan.failover.pod.name,
                                                           plan.failover_reason))

    def _do_resets(self, plan):
        state = plan.resets[0]
        self.node(state.pod).call("SENTINEL", "RESET", self.shape.master_name)
        self._act("reset sentinel %s (it knew addresses that are gone)" % state.pod.name)

    # -- result ---------------------------------------------------------------------------------

    def _result(self, plan, changed, actions):
        master = plan.master
        return {
            "changed": changed,
            "actions": actions,
            "notes": plan.notes,
            "topology": topology(plan),
            "master_ok": master is not None and master.is_master and not plan.notes,
            "keys": master.dbsize if master else 0,
            "placement_conflicts": placement_conflicts(plan),
        }


def parking_directive():
    """The redis.conf line pods start with (see PARKING_HOST)."""
    return "replicaof %s %d" % (PARKING_HOST, PARKING_PORT)


def converge(redis_pods, sentinels, master_name, replicas, quorum, settings=None,
             password=None, replica_priority=100, previous_master=None, check_mode=False,
             timeout=300, log=None):
    """Entry point for the module: returns the result dict or raises SentinelConvergeError."""
    try:
        shape = SentinelShape(master_name, replicas, quorum, settings, replica_priority,
                              previous_master)
    except SentinelStateError as exc:
        raise SentinelConvergeError(str(exc))
    converger = SentinelConverger(redis_pods, sentinels, shape, password=password,
                                  timeout=timeout, log=log)
    try:
        return converger.check() if check_mode else converger.run()
    except SentinelConvergeError:
        raise
    except Exception as exc:  # a pod went away mid-phase: a reason, never a traceback
        raise SentinelConvergeError("converge interrupted: %s (the next converge resumes)" % (
            error_text(exc)))
    finally:
        converger.close()
