#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_backup
short_description: Back up a Redis instance (standalone, sentinel or cluster) to a directory or S3
description:
  - Reads each shard's RDB over the replication protocol (as a replica does), from a replica
    whose link is up when the shard has one, else from the master; streams it to the storage
    with its SHA-256, then writes C(manifest.json) (files, sizes, checksums, key counts, Redis
    and RDB versions, the slot map of a cluster). A backup without a manifest is incomplete.
  - With I(state=absent) the stored backup is deleted.
version_added: "0.1.0"
author: redisible contributors
options:
  name:
    description: The backup's name (a directory or key prefix under the storage).
    type: str
    required: true
  state:
    description: C(present) takes the backup unless it exists; C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  kind:
    description: The instance's kind.
    type: str
    choices: [Redis, RedisSentinel, RedisCluster]
    default: Redis
  instance:
    description: The instance's name, recorded in the manifest.
    type: str
    default: ""
  password:
    description: The instance's password.
    type: str
  instance_spec:
    description: The instance's spec, kept in the manifest (a restore can create a copy).
    type: dict
    default: {}
  timeout:
    description: Seconds one shard's transfer may take.
    type: int
    default: 3600
extends_documentation_fragment:
  - redisible_pods
  - redisible_storage
notes:
  - Supports check mode (reports the pods it would read from).
requirements:
  - redis (redis-py) >= 4.0
"""

EXAMPLES = r"""
- name: Back up a RedisCluster to S3
  redis_backup:
    name: nightly-20261128
    kind: RedisCluster
    instance: orders
    pods: "{{ redisible_pods }}"
    password: "{{ redisible_password }}"
    storage:
      type: s3
      endpoint: https://minio.example:9000
      bucket: redis-backups
      prefix: orders
      access_key: "{{ s3_access_key }}"
      secret_key: "{{ s3_secret_key }}"
  no_log: true
"""

RETURN = r"""
manifest:
  description: The manifest written next to the data (or found, when the backup existed).
  returned: state is present and not check mode
  type: dict
location:
  description: Where the backup is (directory path or s3:// URL).
  returned: always
  type: str
files:
  description: Per file shard, file, bytes, sha256, keys, sourcePod, slots (for status).
  returned: state is present and not check mode
  type: list
sources:
  description: The pod each shard is read from.
  returned: check mode
  type: list
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_backup import INSTANCE_KINDS, backup_instance
from ansible.module_utils.redisible_backup_store import STORAGE_ARGUMENT, open_store
from ansible.module_utils.redisible_pods import POD_OPTIONS
from ansible.module_utils.redisible_rdb import MANIFEST_NAME, BackupError, status_files
from ansible.module_utils.redisible_redis import HAS_REDIS, REDIS_IMPORT_ERROR


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            kind=dict(type="str", default="Redis", choices=INSTANCE_KINDS),
            instance=dict(type="str", default=""),
            pods=dict(type="list", elements="dict", default=[], options=POD_OPTIONS),
            password=dict(type="str", no_log=True),
            instance_spec=dict(type="dict", default={}),
            storage=STORAGE_ARGUMENT,
            timeout=dict(type="int", default=3600),
        ),
        supports_check_mode=True,
    )
    if not HAS_REDIS:
        module.fail_json(msg="the Python package 'redis' is required: %s" % REDIS_IMPORT_ERROR)
    params = module.params
    try:
        store = open_store(params["storage"])
        location = store.describe(params["name"])
        exists = store.size("%s/%s" % (params["name"], MANIFEST_NAME)) is not None
        if params["state"] == "absent":
            present = store.has_data(params["name"])
            if present and not module.check_mode:
                store.delete_backup(params["name"])
            module.exit_json(changed=present, location=location)
        if exists:
            manifest = store.read_json("%s/%s" % (params["name"], MANIFEST_NAME))
            module.exit_json(changed=False, location=location, manifest=manifest,
                             files=status_files(manifest))
        if not params["pods"]:
            module.fail_json(msg="no pods to back up", location=location)
        result = backup_instance(store, params["name"], params["kind"], params["instance"],
                                 params["pods"], params["password"], params["timeout"],
                                 check_mode=module.check_mode, spec=params["instance_spec"])
    except BackupError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**dict(result, location=location))


if __name__ == "__main__":
    main()
