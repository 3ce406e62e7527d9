# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""The names of the restore-by-placement protocol, spelled once: the restore (Python) writes
them into a waiting pod's volume, the pod's restore-wait init container (a role template)
looks for them. The roles read them through the ``redisible_placement`` filter.

Self-contained (standard library only): the filter loads this file on the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The init container that holds Redis back until the restore releases the pod.
WAIT_CONTAINER = "restore-wait"
# A shard's backup file, placed in the volume before Redis first starts.
PLACED_FILE = ".redisible-restore.rdb"
# The marker that releases the pod.
RELEASE_MARKER = ".redisible-restore-done"

NAMES = {"wait_container": WAIT_CONTAINER, "placed_file": PLACED_FILE,
         "release_marker": RELEASE_MARKER}
