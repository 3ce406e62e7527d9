#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redisible_backup_schedule
short_description: Decide whether a scheduled backup is due
description:
  - Evaluates a 5-field cron schedule (UTC) against the last scheduled run (or the creation
    time before the first). Runs missed while nobody looked collapse into one. Read-only.
version_added: "0.1.0"
author: redisible contributors
options:
  schedule:
    description: The cron expression (minute hour day-of-month month day-of-week, or a macro).
    type: str
    required: true
  last_schedule_time:
    description: ISO time (UTC, Z) of the last scheduled run, if any.
    type: str
  created:
    description: ISO time (UTC, Z) the resource was created.
    type: str
    required: true
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Is a backup due?
  redisible_backup_schedule:
    schedule: "0 2 * * *"
    last_schedule_time: "{{ status.lastScheduleTime | default(omit) }}"
    created: "{{ metadata.creationTimestamp }}"
  register: due
"""

RETURN = r"""
due:
  description: Whether a run is due now.
  returned: success
  type: bool
fire_time:
  description: The scheduled time of the due run (record it as lastScheduleTime).
  returned: when due
  type: str
next_time:
  description: The next scheduled time after that.
  returned: success
  type: str
suffix:
  description: A name suffix for the due run's backup (UTC, to the minute).
  returned: when due
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.redisible_schedule import ScheduleError, iso, parse_iso, schedule_state


def main():
    module = AnsibleModule(
        argument_spec=dict(schedule=dict(type="str", required=True),
                           last_schedule_time=dict(type="str"),
                           created=dict(type="str", required=True)),
        supports_check_mode=True,
    )
    params = module.params
    created = parse_iso(params["created"])
    if created is None:
        module.fail_json(msg="created is not an ISO time: %r" % params["created"])
    try:
        due, fire, following = schedule_state(params["schedule"],
                                              parse_iso(params["last_schedule_time"]),
                                              created, time.time())
    except ScheduleError as exc:
        module.fail_json(msg="schedule %r: %s" % (params["schedule"], exc))
    module.exit_json(changed=False, due=due, fire_time=iso(fire), next_time=iso(following),
                     suffix=time.strftime("%Y%m%d%H%M", time.gmtime(fire)) if due else None)


if __name__ == "__main__":
    main()
