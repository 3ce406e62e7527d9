#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redisible_validate_spec
short_description: Check a redisible custom resource spec the way the CRD schema does
description:
  - Runs the checks the CRD schema enforces on the API server (versions, ranges, owned
    redis.conf directives, quantities), for playbook runs that have no API server in front.
  - Fails with every problem in one message; changes nothing.
version_added: "0.1.0"
author: redisible contributors
options:
  kind:
    description: Kind of the resource (RedisCluster, ...).
    type: str
    required: true
  name:
    description: metadata.name of the resource.
    type: str
    required: true
  spec:
    description: The spec, with defaults applied.
    type: dict
    required: true
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Validate
  redisible_validate_spec:
    kind: RedisCluster
    name: demo
    spec: "{{ rediscluster_spec }}"
"""

RETURN = r"""
errors:
  description: Every problem found, one sentence each.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_spec import validate_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(kind=dict(type="str", required=True),
                           name=dict(type="str", required=True),
                           spec=dict(type="dict", required=True)),
        supports_check_mode=True,
    )
    errors = validate_spec(module.params["kind"], module.params["name"], module.params["spec"])
    if errors:
        module.fail_json(msg="invalid %s spec: %s" % (module.params["kind"], "; ".join(errors)),
                         errors=errors)
    module.exit_json(changed=False, errors=[])


if __name__ == "__main__":
    main()
