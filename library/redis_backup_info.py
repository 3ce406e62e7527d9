#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_backup_info
short_description: Read the manifest of a stored backup, or list the stored backups
description:
  - With I(name), returns that backup's manifest (files, sizes, SHA-256, key counts, versions,
    slot map, the instance's spec); without, the names of the complete backups. Read-only.
version_added: "0.1.0"
author: redisible contributors
options:
  name:
    description: The backup's name.
    type: str
  verify:
    description:
      - With I(name), also read every file and compare its size and SHA-256 with the manifest;
        what does not match is listed in C(problems) (the module does not fail for it).
    type: bool
    default: false
  target_kind:
    description:
      - With I(name), the kind of the instance the backup would be restored into; the result
        then carries C(load_plan).
    type: str
    choices: [Redis, RedisSentinel, RedisCluster]
extends_documentation_fragment:
  - redisible_storage
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Read a backup's manifest
  redis_backup_info:
    name: orders-nightly-202611280200
    storage: {type: directory, path: /backups}
  register: backup
"""

RETURN = r"""
manifest:
  description: The backup's manifest.
  returned: when name is given
  type: dict
problems:
  description: Files missing, truncated or corrupted (with verify).
  returned: when name and verify are given
  type: list
location:
  description: Where the backup is, for people (a URL, a path, or a pod and path).
  returned: when name is given
  type: str
load_plan:
  description:
    - How a load into a running target of I(target_kind) goes - method (C(replication) or
      C(keys)) and needs_loader (a loader pod holds each file while its keys are sent).
  returned: when name and target_kind are given and the manifest is usable
  type: dict
backups:
  description: Names of the complete backups.
  returned: when name is not given
  type: list
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_backup import INSTANCE_KINDS
from ansible.module_utils.redisible_backup_store import (
    STORAGE_ARGUMENT,
    file_problems,
    open_store,
    read_manifest,
)
from ansible.module_utils.redisible_rdb import BackupError, load_plan, manifest_problems


def main():
    module = AnsibleModule(
        argument_spec=dict(name=dict(type="str"), verify=dict(type="bool", default=False),
                           target_kind=dict(type="str", choices=INSTANCE_KINDS),
                           storage=STORAGE_ARGUMENT),
        supports_check_mode=True,
    )
    try:
        store = open_store(module.params["storage"])
        name = module.params["name"]
        if name:
            manifest = read_manifest(store, name)
            problems = manifest_problems(manifest)
            if module.params["verify"] and not problems:
                problems = file_problems(store, name, manifest)
            result = dict(changed=False, manifest=manifest, problems=problems,
                          location=store.describe(name))
            if module.params["target_kind"] and not manifest_problems(manifest):
                result["load_plan"] = load_plan(manifest, module.params["target_kind"])
            module.exit_json(**result)
        module.exit_json(changed=False, backups=store.list_backups())
    except BackupError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
