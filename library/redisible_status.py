#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redisible_status
short_description: Write conditions and fields to a custom resource's status subresource
description:
  - Merges Ready/Progressing/Degraded style conditions into C(status.conditions), keeping
    C(lastTransitionTime) when a condition's status does not change, sets
    C(status.observedGeneration) and any extra status fields, through the status subresource.
  - Stands in for C(operator_sdk.util.k8s_status) with the same semantics, and needs no extra
    collection. When the resource does not exist (a playbook run without the CRD), nothing is
    written and C(changed) is false.
version_added: "0.1.0"
author: redisible contributors
options:
  api_version:
    description: API group/version of the resource.
    type: str
    required: true
  kind:
    description: Kind of the resource.
    type: str
    required: true
  name:
    description: Name of the resource.
    type: str
    required: true
  namespace:
    description: Namespace of the resource.
    type: str
    required: true
  conditions:
    description: Conditions to set, each with type, status, and optionally reason and message.
    type: list
    elements: dict
    default: []
  status:
    description: Other status fields to set (replaced at the top level).
    type: dict
    default: {}
  generation:
    description:
      - The metadata.generation these results are for (becomes observedGeneration).
      - When omitted (a playbook run), the resource's current generation.
    type: int
  kubeconfig:
    description: Path to a kubeconfig; in-cluster configuration is used when omitted.
    type: path
notes:
  - Supports check mode.
requirements:
  - kubernetes (Python client)
"""

EXAMPLES = r"""
- name: Report Ready
  redisible_status:
    api_version: redis.redisible.io/v1alpha1
    kind: RedisCluster
    name: demo
    namespace: default
    generation: 3
    conditions:
      - {type: Ready, status: "True", reason: Converged, message: 3 shards serving all slots}
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
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_k8s_client import custom_objects_api, resource_coordinates
from ansible.module_utils.redisible_k8s_status import status_patch

try:
    from kubernetes.client.rest import ApiException
    HAS_K8S = True
except ImportError:
    HAS_K8S = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            api_version=dict(type="str", required=True),
            kind=dict(type="str", required=True),
            name=dict(type="str", required=True),
            namespace=dict(type="str", required=True),
            conditions=dict(type="list", elements="dict", default=[]),
            status=dict(type="dict", default={}),
            generation=dict(type="int"),
            kubeconfig=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    if not HAS_K8S:
        module.fail_json(msg="the Python package 'kubernetes' is required")
    params = module.params
    group, version, plural = resource_coordinates(params["api_version"], params["kind"])
    try:
        api = custom_objects_api(params["kubeconfig"])
        current = api.get_namespaced_custom_object(group, version, params["namespace"], plural,
                                                   params["name"])
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
    new_status, changed = status_patch(current.get("status"), params["conditions"],
                                       params["status"], now, generation)
    if changed and not module.check_mode:
        body = {"status": new_status}
        try:
            api.patch_namespaced_custom_object_status(group, version, params["namespace"],
                                                      plural, params["name"], body)
        except ApiException as exc:
            module.fail_json(msg="writing status: %s %s" % (exc.status, exc.reason))
    module.exit_json(changed=changed, found=True, status=new_status)


if __name__ == "__main__":
    main()
