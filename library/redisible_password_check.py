#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redisible_password_check
short_description: Take the Redis password out of a Secret and say why it is unusable
description:
  - Decodes the password from the Secret found by C(kubernetes.core.k8s_info) and checks that
    redis.conf can carry it. The reason never contains the password.
version_added: "0.1.0"
author: redisible contributors
options:
  secret:
    description: The C(resources) list returned by k8s_info for the Secret (empty if missing).
    type: list
    elements: dict
    required: true
  key:
    description: The data key holding the password.
    type: str
    default: password
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Check the password
  redisible_password_check:
    secret: "{{ found.resources }}"
    key: password
  register: password
  no_log: true
"""

RETURN = r"""
problem:
  description: Why the password cannot be used, or null.
  returned: always
  type: str
password:
  description: The password (register it under no_log).
  returned: when usable
  type: str
"""

import base64

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_spec import password_problem


def main():
    module = AnsibleModule(
        argument_spec=dict(secret=dict(type="list", elements="dict", required=True),
                           key=dict(type="str", default="password", no_log=False)),
        supports_check_mode=True,
    )
    secret, key = module.params["secret"], module.params["key"]
    if not secret:
        module.exit_json(changed=False, problem="the Secret does not exist")
    data = (secret[0].get("data") or {}).get(key)
    if data is None:
        module.exit_json(changed=False, problem="the Secret has no key %r" % key)
    try:
        password = base64.b64decode(data).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        module.exit_json(changed=False, problem="the value is not UTF-8 text")
    problem = password_problem(password)
    if problem:
        module.exit_json(changed=False, problem=problem)
    module.exit_json(changed=False, problem=None, password=password)


if __name__ == "__main__":
    main()
