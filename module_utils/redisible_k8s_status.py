# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Status conditions with Kubernetes semantics (the part of operator_sdk.util.k8s_status we
need, which cannot be installed here): lastTransitionTime moves only when status changes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.redisible_k8s_client import custom_objects_api, resource_coordinates

# Kubernetes truncates longer Event messages itself (the kubelet at 1024 bytes).
EVENT_MESSAGE_LIMIT = 1024

CONDITION_FIELDS = ("type", "status", "reason", "message", "lastTransitionTime",
                    "observedGeneration")


def merge_conditions(existing, updates, now, generation=None):
    """Conditions after applying ``updates`` (type -> partial condition) to ``existing``."""
    by_type = dict((c.get("type"), dict(c)) for c in existing or [] if c.get("type"))
    order = [c.get("type") for c in existing or [] if c.get("type")]
    for update in updates:
        kind = update["type"]
        old = by_type.get(kind, {})
        new = dict((k, v) for k, v in update.items() if k in CONDITION_FIELDS and v is not None)
        new["status"] = str(new.get("status", "Unknown"))
        if old.get("status") == new["status"] and old.get("lastTransitionTime"):
            new["lastTransitionTime"] = old["lastTransitionTime"]
        else:
            new["lastTransitionTime"] = now
        if generation is not None:
            new["observedGeneration"] = generation
        by_type[kind] = new
        if kind not in order:
            order.append(kind)
    return [by_type[k] for k in order]


def status_patch(current_status, conditions, extra, now, generation=None):
    """The full new status and whether it differs from the current one."""
    current_status = current_status or {}
    new_status = dict(current_status)
    new_status.update(extra or {})
    new_status["conditions"] = merge_conditions(current_status.get("conditions"), conditions,
                                                now, generation)
    if generation is not None:
        new_status["observedGeneration"] = generation
    return new_status, new_status != current_status


class ProgressReporter(object):
    """Writes status.resharding of a custom resource while slots move, at most every
    ``interval`` seconds. ``patch`` is a callable taking the status dict (the module binds it
    to the Kubernetes API); failures to report never stop a migration."""

    def __init__(self, patch, interval=2.0, clock=None):
        import time
        self.patch = patch
        self.interval = interval
        self.clock = clock or time.time
        self.last = None
        self.errors = 0

    def __call__(self, slots_moved, slots_total, keys_moved, final=False):
        now = self.clock()
        if not final and self.last is not None and now - self.last < self.interval:
            return False
        self.last = now
        try:
            self.patch({"resharding": {"slotsMoved": slots_moved, "slotsTotal": slots_total,
                                       "keysMoved": keys_moved}})
        except Exception:  # reporting is best effort; the converge result is what counts
            self.errors += 1
            return False
        return True


def status_patcher(target):
    """A callable that merge-patches ``{"status": ...}`` into the resource ``target``
    (api_version, kind, name, namespace, kubeconfig)."""
    api = custom_objects_api(target.get("kubeconfig"))
    group, version, plural = resource_coordinates(target["api_version"], target["kind"])

    def patch(status):
        api.patch_namespaced_custom_object_status(group, version, target["namespace"], plural,
                                                  target["name"], {"status": status})
    return patch


def warning_event(resource, reason, message, now):
    """The Warning Event of one reason on ``resource`` (a custom resource as read), named
    <resource>.<reason> so that a repeat counts up instead of piling up Events."""
    metadata = resource["metadata"]
    if len(message) > EVENT_MESSAGE_LIMIT:
        message = message[:EVENT_MESSAGE_LIMIT - 3] + "..."
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "%s.%s" % (metadata["name"], reason.lower()),
                     "namespace": metadata["namespace"]},
        "involvedObject": {"apiVersion": resource["apiVersion"], "kind": resource["kind"],
                           "name": metadata["name"], "namespace": metadata["namespace"],
                           "uid": metadata.get("uid")},
        "type": "Warning", "reason": reason, "message": message,
        "source": {"component": "redisible"},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }


def record_warning(core, resource, reason, message, now):
    """Creates the Warning Event, or counts a repeat of it (``core``: a CoreV1Api).
    Returns {name, reason, count}."""
    from kubernetes.client.rest import ApiException

    event = warning_event(resource, reason, message, now)
    name, namespace = event["metadata"]["name"], event["metadata"]["namespace"]
    try:
        core.create_namespaced_event(namespace, event)
        return {"name": name, "reason": reason, "count": 1}
    except ApiException as exc:
        if exc.status != 409:
            raise
    existing = core.read_namespaced_event(name, namespace)
    count = (existing.count or 1) + 1
    core.patch_namespaced_event(name, namespace, {"count": count, "lastTimestamp": now,
                                                  "message": event["message"]})
    return {"name": name, "reason": reason, "count": count}
