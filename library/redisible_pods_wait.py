#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redisible_pods_wait
short_description: Wait until a number of pods run, in one process
description:
  - Lists the pods matching C(selector) every C(poll) seconds until C(count) of them run with
    an IP and are not being deleted (C(redisible_pods.pods_settled)), or until one of them
    cannot be scheduled (waiting would never end), or until C(timeout).
  - One process polls the API for the whole wait, where an C(until) loop over
    C(kubernetes.core.k8s_info) would start Python and load the Kubernetes client on every
    retry.
version_added: "0.1.0"
author: redisible contributors
options:
  namespace: {description: Namespace of the pods., type: str, required: true}
  selector:
    description: Labels the pods carry (all of them).
    type: dict
    required: true
  count: {description: How many pods must run., type: int, required: true}
  timeout: {description: Seconds to wait before failing., type: int, default: 600}
  poll: {description: Seconds between two looks., type: float, default: 2}
  kubeconfig:
    description: Path to a kubeconfig; in-cluster configuration is used when omitted.
    type: path
notes:
  - Supports check mode (it only reads).
"""

EXAMPLES = r"""
- name: Wait for the shard's pods
  redisible_pods_wait:
    namespace: redis
    selector: {app.kubernetes.io/instance: demo}
    count: 6
    timeout: 600
  register: found
"""

RETURN = r"""
resources:
  description: The pods as the API returned them at the end of the wait (as k8s_info lists them).
  returned: always
  type: list
  elements: dict
unschedulable:
  description: "'name: message' for each pod the scheduler cannot place (the wait ends on one)."
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_k8s_client import api_client
from ansible.module_utils.redisible_pods import pods_settled


def main():
    module = AnsibleModule(
        argument_spec=dict(namespace=dict(type="str", required=True),
                           selector=dict(type="dict", required=True),
                           count=dict(type="int", required=True),
                           timeout=dict(type="int", default=600),
                           poll=dict(type="float", default=2),
                           kubeconfig=dict(type="path")),
        supports_check_mode=True,
    )
    params = module.params
    try:
        from kubernetes import client

        api = api_client(params["kubeconfig"])
        core = client.CoreV1Api(api)
    except Exception as exc:  # no kubernetes package, no cluster configured
        module.fail_json(msg="no Kubernetes API: %s" % exc)
    selector = ",".join("%s=%s" % item for item in sorted(params["selector"].items()))
    deadline = time.time() + params["timeout"]
    while True:
        try:
            listed = core.list_namespaced_pod(params["namespace"], label_selector=selector)
            resources = api.sanitize_for_serialization(listed).get("items") or []
        except Exception as exc:  # the API blinked: look again until the deadline
            resources, error = None, str(exc)
        if resources is not None:
            settled, unschedulable = pods_settled(resources, params["count"])
            if settled or unschedulable:
                module.exit_json(changed=False, resources=resources,
                                 unschedulable=unschedulable)
        if time.time() > deadline:
            running = "the API did not answer (%s)" % error if resources is None else \
                "%d pod(s) match" % len(resources)
            module.fail_json(msg="%d pod(s) with %s in %s were not all running after %d s: %s"
                             % (params["count"], selector, params["namespace"],
                                params["timeout"], running), resources=resources or [])
        time.sleep(params["poll"])


if __name__ == "__main__":
    main()
