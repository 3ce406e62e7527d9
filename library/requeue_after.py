#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: requeue_after
short_description: Tell the ansible-operator runtime when to reconcile this resource next
description:
  - The ansible-operator runtime reads the result of a task whose action is C(requeue_after)
    and reconciles the resource again after C(period) instead of its watch's
    C(reconcilePeriod) (the same contract as C(operator_sdk.util.requeue_after), which needs a
    collection this project does without).
  - The runtime acts on it at once, so it is the last task of a run. A playbook run without
    the operator only returns the period.
version_added: "0.1.0"
author: redisible contributors
options:
  period:
    description: A Go duration (C(30s), C(10m), C(1h)).
    type: str
    required: true
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: A finished restore has nothing left to do; look again in an hour
  requeue_after:
    period: 1h
"""

RETURN = r"""
period:
  description: The period, as the runtime reads it.
  returned: always
  type: str
"""

import re

from ansible.module_utils.basic import AnsibleModule

# Go's time.ParseDuration units; the runtime fails the reconcile on anything else.
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def main():
    module = AnsibleModule(argument_spec=dict(period=dict(type="str", required=True)),
                           supports_check_mode=True)
    period = module.params["period"]
    if not DURATION.match(period):
        module.fail_json(msg="period %r is not a Go duration (for example 30s, 10m, 1h)" % period)
    module.exit_json(changed=False, period=period)


if __name__ == "__main__":
    main()
