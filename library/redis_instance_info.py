#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_instance_info
short_description: Read the role, version, memory and key count of one Redis
description:
  - Read-only (INFO and DBSIZE); used for the status of a standalone Redis.
version_added: "0.1.0"
author: redisible contributors
options:
  host:
    description: Address of the Redis.
    type: str
    required: true
  port:
    description: Redis port.
    type: int
    default: 6379
  password:
    description: The password (requirepass).
    type: str
  wait:
    description: Seconds to keep trying while the Redis does not answer yet (loading data).
    type: int
    default: 0
notes:
  - Supports check mode.
requirements:
  - redis (redis-py) >= 4.0
"""

EXAMPLES = r"""
- name: Read the state of the standalone pod
  redis_instance_info:
    host: 10.88.0.12
    password: "{{ redis_password }}"
    wait: 120
  no_log: true
  register: info
"""

RETURN = r"""
role:
  description: master or slave.
  returned: success
  type: str
redis_version:
  description: The server version.
  returned: success
  type: str
used_memory:
  description: Bytes of memory in use.
  returned: success
  type: int
keys:
  description: Keys in the selected database (db 0).
  returned: success
  type: int
connected_replicas:
  description: Replicas connected to it.
  returned: success
  type: int
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_redis import (
    HAS_REDIS,
    REDIS_IMPORT_ERROR,
    error_text,
    instance_info,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(host=dict(type="str", required=True),
                           port=dict(type="int", default=6379),
                           password=dict(type="str", no_log=True),
                           wait=dict(type="int", default=0)),
        supports_check_mode=True,
    )
    if not HAS_REDIS:
        module.fail_json(msg="the Python package 'redis' is required: %s" % REDIS_IMPORT_ERROR)
    params = module.params
    deadline = time.time() + params["wait"]
    while True:
        try:
            result = instance_info(params["host"], params["port"], params["password"])
            break
        except Exception as exc:  # not answering yet (starting, loading): retry until wait
            if time.time() >= deadline:
                module.fail_json(msg="Redis at %s:%d does not answer: %s" % (
                    params["host"], params["port"], error_text(exc)))
            time.sleep(1)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
