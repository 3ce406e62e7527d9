#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redisible_status
short_description: Report one outcome in a custom resource's status, with a Warning Event
description:
  - Turns one outcome (a reason and a human message) into the Ready, Progressing and Degraded
    conditions of C(status.conditions), from the status vocabulary of
    C(module_utils/redisible_reasons.py) (each reason stands for one state; an unknown reason
    is an error). C(lastTransitionTime) moves only when a condition's status changes;
    C(status.observedGeneration) and any extra status fields are set through the status
    subresource.
  - When the outcome sets Degraded, a Warning Event with its reason and message is recorded on
    the resource (one Event per resource and reason; a repeat raises its count).
  - Stands in for C(operator_sdk.util.k8s_status) with the same semantics, and needs no extra
    collection. When the resource does not exist (a playbook run without the CRD), nothing is
    written and C(changed) is false.
version_added: "0.1.0"
author: redisible contributors
options:
  outcome:
    description: What this reconcile came to.
    type: dict
    required: true
    suboptions:
      reason:
        description: A reason of the vocabulary (its state sets the three conditions).
        type: str
        required: true
      message:
        description: What a person reads (on Ready, and on the conditions the state sets).
        type: str
        default: ""
      problem:
        description:
          - A problem beside the outcome (for example C(PlacementConflict)); it sets Degraded
            with its own reason and message while Ready keeps the outcome's state.
        type: dict
        suboptions:
          reason: {description: A problem of the vocabulary., type: str, required: true}
          message: {description: What is wrong., type: str, default: ""}
  status:
    description: Other status fields to set (replaced at the top level).
    type: dict
    default: {}
  generation:
    description:
      - The metadata.generation these results are for (becomes observedGeneration).
      - When omitted (a playbook run), the resource's current generation.
    type: int
extends_documentation_fragment:
  - redisible_k8s_target
notes:
  - Supports check mode (returns the status it would write; no Event).
requirements:
  - kubernetes (Python client)
"""

EXAMPLES = r"""
- name: Report a converged cluster whose replicas share nodes with their masters
  redisible_status:
    api_version: redis.redisible.io/v1alpha1
    kind: RedisCluster
    name: demo
    namespace: default
    generation: 3
    outcome:
      reason: ClusterOK
      message: 3 shards x 1 replicas, 5000 keys
      problem: {reason: PlacementConflict, message: "demo-shard-0-1 shares node-a with its master"}
    status:
      readyShards: 3
"""

RETURN = r"""
status:
  description: The status as written (or as it would be written in check mode).
  returned: success
  type: dict
found:
  description: Whether the resource exists.
  returned: always
  type: bool
event:
  description: The Warning Event recorded (name, reason, count), when the outcome is Degraded.
  returned: when an Event was recorded
  type: dict
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_k8s_client import (
    TARGET_OPTIONS,
    api_client,
    resource_coordinates,
)
from ansible.module_utils.redisible_k8s_status import record_warning, status_patch
from ansible.module_utils.redisible_reasons import condition_triple, warning_of

try:
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    HAS_K8S = True
except ImportError:
    HAS_K8S = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            TARGET_OPTIONS,
            outcome=dict(type="dict", required=True, options=dict(
                reason=dict(type="str", required=True),
                message=dict(type="str", default=""),
                problem=dict(type="dict", options=dict(
                    reason=dict(type="str", required=True),
                    message=dict(type="str", default=""))))),
            status=dict(type="dict", default={}),
            generation=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    if not HAS_K8S:
        module.fail_json(msg="the Python package 'kubernetes' is required")
    params = module.params
    outcome = params["outcome"]
    try:
        conditions = condition_triple(outcome["reason"], outcome["message"] or "",
                                      outcome["problem"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    group, version, plural = resource_coordinates(params["api_version"], params["kind"])
    try:
        api = api_client(params["kubeconfig"])
        custom = client.CustomObjectsApi(api)
        current = custom.get_namespaced_custom_object(group, version, params["namespace"],
                                                      plural, params["name"])
    except ApiException as exc:
        if exc.status == 404:
            # A playbook run for a resource that is not in the API (or no CRD installed).
            module.warn("status not written: %s %s/%s is not in the API (%s/%s %s)" % (
                params["kind"], params["namespace"], params["name"], group, version, plural))
            module.exit_json(changed=False, found=False)
        module.fail_json(msg="reading %s %s/%s: %s %s" % (params["kind"], params["namespace"],
                                                          params["name"], exc.status,
                                                          exc.reason))
    except Exception as exc:  # no cluster configured: say so plainly
        module.fail_json(msg="cannot reach the Kubernetes API: %s" % exc)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # A playbook run passes no generation: the results are for the spec as it stands now.
    generation = params["generation"]
    if generation is None:
        generation = (current.get("metadata") or {}).get("generation")
    new_status, changed = status_patch(current.get("status"), conditions, params["status"],
                                       now, generation)
    result = dict(changed=changed, found=True, status=new_status)
    if module.check_mode:
        module.exit_json(**result)
    if changed:
        try:
            custom.patch_namespaced_custom_object_status(group, version, params["namespace"],
                                                         plural, params["name"],
                                                         {"status": new_status})
        except ApiException as exc:
            module.fail_json(msg="writing status: %s %s" % (exc.status, exc.reason))
    warning = warning_of(conditions)
    if warning:
        try:
            result["event"] = record_warning(client.CoreV1Api(api), current, warning[0],
                                             warning[1], now)
            result["changed"] = True
        except ApiException as exc:  # the status says it already; the Event is extra
            module.warn("Warning Event not recorded: %s %s" % (exc.status, exc.reason))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
