#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_cluster_converge
short_description: Converge a live Redis Cluster to a number of shards and replicas per shard
description:
  - Given every Redis pod of a cluster (address, shard index, ordinal in the shard's
    StatefulSet, Kubernetes node), brings the live cluster to the desired shape.
  - Creates a new cluster (meet, even slot ranges, replicas), adds shards (moves slots and their
    keys into the new masters), removes shards (drains every slot and key, then forgets and
    resets the drained nodes), changes replicas per shard, repairs slots a crash left
    MIGRATING/IMPORTING, covers uncovered slots, forgets nodes that are gone, and re-meets nodes
    whose addresses all changed.
  - Pods at a shard index >= O(shards) or an ordinal > O(replicas_per_shard) are leaving; once
    this module returns they own nothing and have left the cluster, so their StatefulSets may
    shrink.
  - Works with Redis 5.0, 6.x and 7.x using C(requirepass)/C(masterauth) only.
  - Observation is read-only; a converge with nothing to do sends no write command.
version_added: "0.1.0"
author: redisible contributors
options:
  shards:
    description: Desired number of shards (masters).
    type: int
    required: true
  replicas_per_shard:
    description: Desired number of replicas of each master.
    type: int
    required: true
  password:
    description: The cluster password (requirepass and masterauth).
    type: str
  timeout:
    description: Seconds the whole converge may take before it fails with the reason it waited.
    type: int
    default: 600
  migration:
    description: Tuning of slot migration.
    type: dict
    default: {}
    suboptions:
      key_batch:
        description: Keys per MIGRATE call.
        type: int
        default: 1000
      window_keys:
        description: Keys moved per pipelined window; bounds how long a source is blocked.
        type: int
        default: 20000
      window_slots:
        description: Slots per pipelined window at most.
        type: int
        default: 512
      migrate_timeout_ms:
        description: MIGRATE timeout in milliseconds (raise it for very large keys).
        type: int
        default: 60000
      parallel:
        description: Source/target pairs migrated at the same time.
        type: int
        default: 4
  accepted_losses:
    description:
      - Node ids (or prefixes of at least 8 characters) whose lost slots may be covered by an
        empty master. Without it, slots whose only copy was on a node that is gone (lost volume,
        no replica) stay uncovered and are returned in C(lost_slots).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - redisible_pods
  - redisible_k8s_target.progress_to
notes:
  - Supports check mode, which returns the actions the converge would take.
requirements:
  - redis (redis-py) >= 4.0
"""

EXAMPLES = r"""
- name: Converge a 3-shard cluster with one replica per shard
  redis_cluster_converge:
    pods:
      - {name: demo-shard-0-0, host: 10.88.0.11, shard: 0, ordinal: 0, node_name: node-a}
      - {name: demo-shard-0-1, host: 10.88.0.12, shard: 0, ordinal: 1, node_name: node-b}
      - {name: demo-shard-1-0, host: 10.88.0.13, shard: 1, ordinal: 0, node_name: node-b}
      - {name: demo-shard-1-1, host: 10.88.0.14, shard: 1, ordinal: 1, node_name: node-c}
      - {name: demo-shard-2-0, host: 10.88.0.15, shard: 2, ordinal: 0, node_name: node-c}
      - {name: demo-shard-2-1, host: 10.88.0.16, shard: 2, ordinal: 1, node_name: node-a}
    shards: 3
    replicas_per_shard: 1
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
topology:
  description: Per shard the master (pod, ip, node id, slot ranges, keys) and its replicas.
  returned: always
  type: list
  elements: dict
slots_moved:
  description: Slots that changed owner with their keys.
  returned: always
  type: int
keys_moved:
  description: Keys migrated.
  returned: always
  type: int
placement_conflicts:
  description: Replicas that share a Kubernetes node with their master.
  returned: always
  type: list
  elements: str
cluster_ok:
  description: Whether every kept pod reports cluster_state:ok.
  returned: always
  type: bool
lost_slots:
  description:
    - Slots left uncovered because their only copy is gone, per lost node (nodeId, address,
      shard, slots, slotCount); the rest of the cluster converged where it was safe.
  returned: always
  type: list
  elements: dict
lost_messages:
  description: One human sentence per entry of C(lost_slots).
  returned: always
  type: list
  elements: str
accepted_losses:
  description: Entries of C(accepted_losses) whose slots this run covered with an empty master.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_k8s_client import TARGET_OPTIONS
from ansible.module_utils.redisible_k8s_status import ProgressReporter, status_patcher
from ansible.module_utils.redisible_pods import POD_OPTIONS
from ansible.module_utils.redisible_redis import HAS_REDIS, REDIS_IMPORT_ERROR
from ansible.module_utils.redisible_slot_migration import MIGRATION_DEFAULTS

try:
    from ansible.module_utils.redisible_cluster_converge import ConvergeError, converge
except ImportError:  # redis-py missing: reported below with a clear message
    converge = None

MIGRATION_SPEC = dict(
    (name, dict(type="int", default=value)) for name, value in MIGRATION_DEFAULTS.items())



def main():
    module = AnsibleModule(
        argument_spec=dict(
            pods=dict(type="list", elements="dict", required=True, options=POD_OPTIONS),
            shards=dict(type="int", required=True),
            replicas_per_shard=dict(type="int", required=True),
            password=dict(type="str", no_log=True),
            timeout=dict(type="int", default=600),
            migration=dict(type="dict", default={}, options=MIGRATION_SPEC),
            progress_to=dict(type="dict", options=TARGET_OPTIONS),
            accepted_losses=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    if not HAS_REDIS or converge is None:
        module.fail_json(msg="the Python package 'redis' is required: %s" % REDIS_IMPORT_ERROR)
    params = module.params
    progress = None
    if params["progress_to"] and not module.check_mode:
        try:
            progress = ProgressReporter(status_patcher(params["progress_to"]))
        except Exception as exc:  # no API: the converge itself still runs
            module.warn("cannot report progress: %s" % exc)
    try:
        result = converge(
            params["pods"], params["shards"], params["replicas_per_shard"],
            password=params["password"], check_mode=module.check_mode,
            timeout=params["timeout"], migration=params["migration"], progress=progress,
            accepted_losses=params["accepted_losses"])
    except ConvergeError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
