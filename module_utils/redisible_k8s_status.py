# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Status conditions with Kubernetes semantics (the part of operator_sdk.util.k8s_status we
need, which cannot be installed here): lastTransitionTime moves only when status changes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
