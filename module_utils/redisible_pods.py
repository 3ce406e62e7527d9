# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""The one description of a pod that every module and planner takes: :class:`Pod`, the
argument spec that carries it (:data:`POD_OPTIONS`), and :func:`describe_pods`, which turns
the pod objects of ``k8s_info`` into those descriptions (the roles reach it through the
``redisible_pods`` filter).

Self-contained (standard library only): the filter loads this file on the controller, where
``ansible.module_utils`` holds none of ours.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Set by the StatefulSet controller (Kubernetes 1.28 and later); the name's suffix before.
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
SHARD_LABEL = "redis.redisible.io/shard"


class Pod(object):
    """A pod the operator manages (Redis or sentinel): where it answers, which shard and
    which ordinal of its StatefulSet it is, and the Kubernetes node it runs on."""

    __slots__ = ("name", "host", "port", "shard", "ordinal", "node_name")

    def __init__(self, name, host, port=6379, shard=0, ordinal=0, node_name=None):
        self.name = name
        self.host = host
        self.port = int(port)
        self.shard = int(shard)
        self.ordinal = int(ordinal)
        self.node_name = node_name

    @classmethod
    def from_params(cls, params, default_port=6379):
        """From a module's pod option (see POD_OPTIONS)."""
        return cls(params["name"], params["host"], params.get("port") or default_port,
                   params.get("shard") or 0, params.get("ordinal") or 0,
                   params.get("node_name"))

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def __repr__(self):
        return "Pod(%s %s)" % (self.name, self.address)


def pod_options(default_port=6379):
    """The argument spec of one pod in a module's pod list (what describe_pods gives)."""
    return dict(
        name=dict(type="str", required=True),
        host=dict(type="str", required=True),
        port=dict(type="int", default=default_port),
        shard=dict(type="int", default=0),
        ordinal=dict(type="int", default=0),
        node_name=dict(type="str"),
        init_containers=dict(type="dict", default={}),
    )


POD_OPTIONS = pod_options()


def ordinal_of(pod):
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if POD_INDEX_LABEL in labels:
        return int(labels[POD_INDEX_LABEL])
    return int(pod["metadata"]["name"].rsplit("-", 1)[-1])


def _container_states(statuses):
    states = {}
    for status in statuses or []:
        state = status.get("state") or {}
        states[status["name"]] = next((s for s in ("running", "terminated", "waiting")
                                       if s in state), "waiting")
    return states


def describe_pods(resources, port=6379, running=False):
    """Pod objects (``k8s_info`` resources) as POD_OPTIONS dicts, sorted by name.

    Pods being deleted and pods without an IP are left out; ``running`` leaves out every pod
    not in phase Running too (a pod that answers, for backups and restores).
    ``init_containers`` maps each init container to waiting, running or terminated."""
    described = []
    for pod in resources or []:
        metadata = pod.get("metadata") or {}
        status = pod.get("status") or {}
        if metadata.get("deletionTimestamp") or not status.get("podIP"):
            continue
        if running and status.get("phase") != "Running":
            continue
        labels = metadata.get("labels") or {}
        described.append({
            "name": metadata["name"],
            "host": status["podIP"],
            "port": int(port),
            "shard": int(labels.get(SHARD_LABEL, 0)),
            "ordinal": ordinal_of(pod),
            "node_name": (pod.get("spec") or {}).get("nodeName"),
            "init_containers": _container_states(status.get("initContainerStatuses")),
        })
    return sorted(described, key=lambda entry: entry["name"])


# ---------------------------------------------------------------------------------------------
# Membership: which pods the desired shape keeps (the one rule the planners and the roles use)
# ---------------------------------------------------------------------------------------------

def keeps_pod(shard, ordinal, shards, pods_per_shard):
    """Whether the pod at (shard, ordinal) stays: its StatefulSet is one of the first
    ``shards`` and its ordinal is below ``pods_per_shard``. A leaving pod is emptied by the
    converge (slots moved, master handed over) before its StatefulSet shrinks."""
    return int(shard) < int(shards) and int(ordinal) < int(pods_per_shard)


def statefulset_plan(existing, shards, pods_per_shard):
    """The size of every shard StatefulSet, kept and leaving. ``existing``: shard index ->
    current replicas (keys may be strings, as they come from YAML). Each entry: shard,
    replicas (what to apply now: leaving pods stay until the converge has emptied them),
    desired_replicas (after that) and removed_ordinals (the leaving pods of the shard)."""
    current = dict((int(shard), int(replicas)) for shard, replicas in (existing or {}).items())
    highest = max(current) if current else -1
    plan = []
    for shard in range(max(int(shards), highest + 1)):
        kept = [o for o in range(int(pods_per_shard)) if keeps_pod(shard, o, shards,
                                                                     pods_per_shard)]
        replicas = max(len(kept), current.get(shard, 0))
        plan.append({"shard": shard, "replicas": replicas, "desired_replicas": len(kept),
                     "removed_ordinals": [o for o in range(replicas)
                                          if not keeps_pod(shard, o, shards, pods_per_shard)]})
    return plan


def label_patches(resources, label, values):
    """Merge patches (for ``kubernetes.core.k8s`` state=patched, all in one run) that set
    ``label`` to ``values[name]`` on each pod of ``resources`` named in ``values`` whose label
    differs: nothing to send when every label is right already."""
    patches = []
    for resource in resources:
        metadata = resource.get("metadata") or {}
        name = metadata.get("name")
        if name in values and (metadata.get("labels") or {}).get(label) != values[name]:
            patches.append({"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": name, "namespace": metadata.get("namespace"),
                                         "labels": {label: values[name]}}})
    return patches


def pods_settled(resources, count):
    """Whether ``count`` pods of ``resources`` (k8s pod objects) run with an IP and are not
    being deleted, and 'name: message' for each pod the scheduler cannot place (a wait for
    those would never end: ``required`` anti-affinity with too few nodes, for example)."""
    running = [r for r in resources
               if (r.get("status") or {}).get("podIP")
               and (r.get("status") or {}).get("phase") == "Running"
               and not (r.get("metadata") or {}).get("deletionTimestamp")]
    unschedulable = []
    for resource in resources:
        for condition in (resource.get("status") or {}).get("conditions") or []:
            if condition.get("reason") == "Unschedulable":
                unschedulable.append("%s: %s" % ((resource.get("metadata") or {}).get("name"),
                                                 condition.get("message") or "unschedulable"))
    return len(running) == count, unschedulable
