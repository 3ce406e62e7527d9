#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_backup_prune
short_description: Apply a retention policy to the backups of a schedule
description:
  - Lists the complete backups named I(name_prefix) followed by digits (one schedule's runs)
    and deletes those the
    policy does not keep. A backup is kept when it is among the newest I(keep_last) or younger
    than I(keep_days); the newest is always kept; with neither option nothing is deleted.
version_added: "0.1.0"
author: redisible contributors
options:
  name_prefix:
    description: Only backups named this followed by digits are considered (one schedule's).
    type: str
    required: true
  keep_last:
    description: Keep this many of the newest backups.
    type: int
  keep_days:
    description: Keep backups completed fewer than this many days ago.
    type: int
extends_documentation_fragment:
  - redisible_storage
notes:
  - Supports check mode (lists what would be deleted).
"""

EXAMPLES = r"""
- name: Keep the last 7 nightly backups
  redis_backup_prune:
    name_prefix: nightly-
    keep_last: 7
    storage: {type: directory, path: /backups}
"""

RETURN = r"""
pruned:
  description: Names of the backups deleted (or that would be, in check mode).
  returned: always
  type: list
kept:
  description: Names of the backups kept.
  returned: always
  type: list
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_backup_store import STORAGE_ARGUMENT, open_store
from ansible.module_utils.redisible_rdb import BackupError
from ansible.module_utils.redisible_retention import prune_backups


def main():
    module = AnsibleModule(
        argument_spec=dict(name_prefix=dict(type="str", required=True),
                           keep_last=dict(type="int"),
                           keep_days=dict(type="int"),
                           storage=STORAGE_ARGUMENT),
        supports_check_mode=True,
    )
    params = module.params
    try:
        pruned, kept = prune_backups(open_store(params["storage"]), params["name_prefix"],
                                     params["keep_last"], params["keep_days"],
                                     check_mode=module.check_mode)
    except BackupError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=bool(pruned), pruned=pruned, kept=kept)


if __name__ == "__main__":
    main()
