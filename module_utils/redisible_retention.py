# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Retention of scheduled backups: which of one schedule's backups are pruned (the choice is
``redisible_rdb.backups_to_prune``; this side lists, reads and deletes)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import time

from ansible.module_utils.redisible_backup_store import read_manifest
from ansible.module_utils.redisible_rdb import backups_to_prune


def _completed_epoch(manifest):
    try:
        return calendar.timegm(time.strptime(manifest.get("completedAt") or "",
                                             "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return 0


def prune_backups(store, name_prefix, keep_last=None, keep_days=None, check_mode=False,
                  now=None):
    """Deletes the backups of one schedule (named <name_prefix><digits>) that the retention
    policy does not keep. Returns (pruned names, kept names)."""
    # <prefix><digits> only: "nightly-" must not reach the backups of "nightly-eu-".
    names = [n for n in store.list_backups()
             if n.startswith(name_prefix) and n[len(name_prefix):].isdigit()]
    completed = [(n, _completed_epoch(read_manifest(store, n))) for n in names]
    pruned = backups_to_prune(completed, keep_last, keep_days,
                              time.time() if now is None else now)
    if not check_mode:
        for name in pruned:
            store.delete_backup(name)
    return sorted(pruned), sorted(set(names) - set(pruned))
