#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_restore
short_description: Restore a backup taken by redis_backup into a Redis instance
description:
  - Before anything in the target is touched, checks the manifest, that every file is there
    with its recorded size and SHA-256, that the target's Redis reads the backup's RDB format
    and that a cluster target gets database 0 only; any failure is a refusal that names the
    problem.
  - One file into a standalone C(Redis) is loaded by the target itself (it replicates from a
    short-lived feeder in this process, then becomes a master again), at native loading speed.
  - Otherwise (a cluster, a sentinel master, several files, another shape) each file is loaded
    into a loader (a loader pod on the target's image, or a local redis-server) and every key
    is sent with MIGRATE to the master that owns its slot, TTLs included.
  - The target's existing data is replaced.
  - I(pods) is required for I(action=load) and I(action=verify); I(action=place) takes
    I(volumes), or I(pods) with I(volume_storage).
  - With I(action=place) the target has not started yet (created for this restore, its pods
    wait in their C(restore-wait) init container). Each shard's file is copied into the
    volume of the shard's primary pod, its SHA-256 checked on the way; only when every
    file matches are all pods released to start; each master loads its file at native speed.
    I(action=verify) then compares the started target's key count with the backup's.
version_added: "0.1.0"
author: redisible contributors
options:
  name:
    description: The backup's name.
    type: str
    required: true
  action:
    description:
      - C(load) restores into the running I(pods); C(place) puts the files into I(volumes) of
        a target that waits for them; C(verify) checks the key count of the started target.
    type: str
    choices: [load, place, verify]
    default: load
  version:
    description: For I(action=place), the Redis version the target runs (its RDB format limit).
    type: str
  restore_name:
    description: For I(action=place), recorded in the release marker of each volume.
    type: str
    default: ""
  kind:
    description: The target's kind.
    type: str
    choices: [Redis, RedisSentinel, RedisCluster]
    default: Redis
  password:
    description: The target's password.
    type: str
  loader:
    description:
      - An empty Redis to load files into for a key-by-key restore, reachable from here, of
        the target's version (its values travel in its own encoding).
    type: dict
    suboptions:
      host: {description: Its address., type: str, required: true}
      port: {description: Its port., type: int, default: 6379}
      password: {description: Its password., type: str}
  redis_servers:
    description:
      - Without I(loader), redis-server binaries by version (C(7.0) -> path) for a private
        loader on this machine; the target's version, else the newest older one, is used.
    type: dict
    default: {}
  bind_host:
    description:
      - Address the target (or loader) reaches this machine on; found by routing when omitted.
    type: str
  timeout:
    description: Seconds loading one file may take.
    type: int
    default: 3600
extends_documentation_fragment:
  - redisible_pods
  - redisible_storage
  - redisible_storage.volumes
  - redisible_storage.volume_storage
notes:
  - Supports check mode (all the checks run; nothing is written).
  - Not idempotent by nature, every run replaces the target's data; the roles record a
    finished restore in the RedisRestore status and do not run it twice.
requirements:
  - redis (redis-py) >= 4.0
"""

EXAMPLES = r"""
- name: Put a 3-shard backup into a new 3-shard cluster that waits for it
  redis_restore:
    name: nightly-20261128
    action: place
    kind: RedisCluster
    version: "7.0"
    volumes:
      - name: c-shard-0-0
        shard: 0
        primary: true
        storage: {type: pod, namespace: redis, pod: c-shard-0-0, container: restore-wait,
                  path: /data}
      - name: c-shard-0-1
        shard: 0
        storage: {type: pod, namespace: redis, pod: c-shard-0-1, container: restore-wait,
                  path: /data}
    storage: {type: directory, path: /backups}

- name: The same, from the waiting pods as k8s_info lists them
  redis_restore:
    name: nightly-20261128
    action: place
    kind: RedisCluster
    version: "7.0"
    pods: "{{ target_pods.resources | redisible_pods }}"
    volume_storage: {type: pod, namespace: redis, path: /data}
    storage: {type: directory, path: /backups}

- name: Restore last night's backup into the new cluster
  redis_restore:
    name: nightly-20261128
    kind: RedisCluster
    pods: "{{ redisible_pods }}"
    password: "{{ redisible_password }}"
    loader: {host: "{{ loader_ip }}", password: "{{ loader_password }}"}
    storage: {type: directory, path: /backups}
  no_log: true
"""

RETURN = r"""
method:
  description: C(placement), C(replication) (the target loaded the file itself) or C(keys).
  returned: action load and place
  type: str
keys:
  description: Keys in the target after the restore.
  returned: action load (not check mode) and verify
  type: int
released:
  description: Pods released to start (action place); empty when an earlier run released them.
  returned: action place
  type: list
  elements: str
seconds:
  description: Time spent loading (after the checks).
  returned: not check mode
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_backup import INSTANCE_KINDS
from ansible.module_utils.redisible_backup_store import (
    STORAGE_ARGUMENT,
    STORAGE_OPTIONS,
    open_store,
)
from ansible.module_utils.redisible_pods import POD_OPTIONS
from ansible.module_utils.redisible_rdb import BackupError
from ansible.module_utils.redisible_redis import HAS_REDIS, REDIS_IMPORT_ERROR
from ansible.module_utils.redisible_restore import (
    place_backup,
    pod_volumes,
    restore_instance,
    verify_restore,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            kind=dict(type="str", default="Redis", choices=INSTANCE_KINDS),
            action=dict(type="str", default="load", choices=["load", "place", "verify"]),
            pods=dict(type="list", elements="dict", options=POD_OPTIONS),
            volumes=dict(type="list", elements="dict", options=dict(
                name=dict(type="str", required=True), shard=dict(type="int", default=0),
                primary=dict(type="bool", default=False), storage=STORAGE_ARGUMENT)),
            volume_storage=dict(type="dict", options=STORAGE_OPTIONS),
            version=dict(type="str"),
            restore_name=dict(type="str", default=""),
            password=dict(type="str", no_log=True),
            loader=dict(type="dict", options=dict(
                host=dict(type="str", required=True), port=dict(type="int", default=6379),
                password=dict(type="str", no_log=True))),
            redis_servers=dict(type="dict", default={}),
            bind_host=dict(type="str"),
            storage=STORAGE_ARGUMENT,
            timeout=dict(type="int", default=3600),
        ),
        required_if=[("action", "load", ["pods"]), ("action", "verify", ["pods"]),
                     ("action", "place", ["version"]),
                     ("action", "place", ["volumes", "volume_storage"], True)],
        required_by={"volume_storage": "pods"},
        supports_check_mode=True,
    )
    if not HAS_REDIS:
        module.fail_json(msg="the Python package 'redis' is required: %s" % REDIS_IMPORT_ERROR)
    params = module.params
    try:
        store = open_store(params["storage"])
        if params["action"] == "place":
            volumes = params["volumes"] or pod_volumes(params["pods"], params["volume_storage"])
            volumes = [dict(v, store=open_store(v["storage"])) for v in volumes]
            result = place_backup(store, params["name"], volumes, params["kind"],
                                  params["version"], params["restore_name"],
                                  check_mode=module.check_mode)
        elif params["action"] == "verify":
            result = {"changed": False, "keys": verify_restore(
                store, params["name"], params["kind"], params["pods"], params["password"])}
        else:
            result = restore_instance(
                store, params["name"], params["kind"], params["pods"], params["password"],
                redis_server=params["redis_servers"], check_mode=module.check_mode,
                timeout=params["timeout"], bind_host=params["bind_host"],
                loader=params["loader"])
    except BackupError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
