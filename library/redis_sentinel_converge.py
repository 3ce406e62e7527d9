#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_sentinel_converge
short_description: Converge Redis pods and their sentinels (one master, replicas, sentinels)
description:
  - Given every Redis pod (started parked, as a replica of nothing) and every sentinel, makes
    one master with the other pods replicating from it and every sentinel monitoring it with
    the password and the given settings.
  - The master is the one the sentinels agree on. The module chooses one itself only when no
    sentinel monitors anything or the sentinels cannot fail over on their own; it then takes
    the pod with the most recent data (replication offset), never an empty restarted pod over
    a replica holding data.
  - After pods restart on new addresses it re-points replicas and sentinels, and drops stale
    sentinel and replica entries with SENTINEL RESET, one sentinel at a time, only while the
    master is healthy.
  - Pods with an ordinal >= O(replicas) are leaving; they get replica-priority 0 and, when the
    master is one of them, the sentinels are asked to fail over to a staying replica. Once
    this module returns the leaving pods may be deleted.
  - Works with Redis 5.0, 6.x and 7.x. Observation is read-only; a converge with nothing to do
    sends no write command.
version_added: "0.1.0"
author: redisible contributors
options:
  master_name:
    description: The name the sentinels monitor the master under (clients ask for it).
    type: str
    default: mymaster
  replicas:
    description: Desired number of Redis pods (the master and its replicas).
    type: int
    required: true
  quorum:
    description: Sentinels that must agree the master is down before a failover.
    type: int
    default: 2
  settings:
    description: Sentinel settings kept equal to these (SENTINEL SET).
    type: dict
    default: {}
    suboptions:
      down-after-milliseconds:
        description: Milliseconds without an answer before a sentinel thinks the master is down.
        type: int
      failover-timeout:
        description: Milliseconds a failover may take.
        type: int
      parallel-syncs:
        description: Replicas re-synced at once after a failover.
        type: int
  replica_priority:
    description: replica-priority of the staying pods (leaving pods get 0).
    type: int
    default: 100
  previous_master:
    description: Pod name of the master last reported in status; breaks ties when the module
      must choose.
    type: str
  password:
    description: The password of the Redis pods and of the sentinels.
    type: str
  timeout:
    description: Seconds the converge may take, waits for the sentinels included.
    type: int
    default: 300
extends_documentation_fragment:
  - redisible_pods.sentinel
notes:
  - Supports check mode, which returns the actions the converge would take.
requirements:
  - redis (redis-py) >= 4.0
"""

EXAMPLES = r"""
- name: Converge one master, two replicas and three sentinels
  redis_sentinel_converge:
    redis_pods:
      - {name: cache-redis-0, host: 10.88.0.11, ordinal: 0}
      - {name: cache-redis-1, host: 10.88.0.12, ordinal: 1}
      - {name: cache-redis-2, host: 10.88.0.13, ordinal: 2}
    sentinels:
      - {name: cache-sentinel-0, host: 10.88.0.21}
      - {name: cache-sentinel-1, host: 10.88.0.22}
      - {name: cache-sentinel-2, host: 10.88.0.23}
    replicas: 3
    quorum: 2
    settings: {down-after-milliseconds: 5000, failover-timeout: 60000, parallel-syncs: 1}
    password: "{{ redis_password }}"
  no_log: true
  register: converge
"""

RETURN = r"""
actions:
  description: What was done (or, in check mode, what would be done), in order.
  returned: always
  type: list
  elements: str
notes:
  description: What the converge waited for when it stopped (empty when converged).
  returned: always
  type: list
  elements: str
topology:
  description: The master (pod, ip, keys), each replica with link state and lag in bytes, and
    each sentinel with the master it sees.
  returned: always
  type: dict
master_ok:
  description: Whether a master answers and nothing is left to wait for.
  returned: always
  type: bool
keys:
  description: Keys in the master.
  returned: always
  type: int
placement_conflicts:
  description: Redis pods that share a Kubernetes node.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_pods import POD_OPTIONS, pod_options
from ansible.module_utils.redisible_redis import HAS_REDIS, REDIS_IMPORT_ERROR

try:
    from ansible.module_utils.redisible_sentinel_converge import (
        SentinelConvergeError,
        converge,
    )
except ImportError:  # redis-py missing: reported below with a clear message
    converge = None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            redis_pods=dict(type="list", elements="dict", required=True, options=POD_OPTIONS),
            sentinels=dict(type="list", elements="dict", required=True,
                           options=pod_options(26379)),
            master_name=dict(type="str", default="mymaster"),
            replicas=dict(type="int", required=True),
            quorum=dict(type="int", default=2),
            settings=dict(type="dict", default={}, options={
                "down-after-milliseconds": dict(type="int"),
                "failover-timeout": dict(type="int"),
                "parallel-syncs": dict(type="int")}),
            replica_priority=dict(type="int", default=100),
            previous_master=dict(type="str"),
            password=dict(type="str", no_log=True),
            timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    if not HAS_REDIS or converge is None:
        module.fail_json(msg="the Python package 'redis' is required: %s" % REDIS_IMPORT_ERROR)
    params = module.params
    settings = dict((k, v) for k, v in params["settings"].items() if v is not None)
    try:
        result = converge(
            params["redis_pods"], params["sentinels"], params["master_name"],
            params["replicas"], params["quorum"], settings=settings,
            password=params["password"], replica_priority=params["replica_priority"],
            previous_master=params["previous_master"], check_mode=module.check_mode,
            timeout=params["timeout"])
    except SentinelConvergeError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
