# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""What a RedisRestore does next, decided once from what the role has read so far.

A restore goes source -> target -> placement (a target it created, whose pods wait) ->
target Ready -> load. Each of the role's task files reads one part of the world into the
facts (``restore_step`` documents the keys); ``restore_step`` then says the one next action:
the task file to run, or a report (Pending with what blocks it, which the user can still fix;
Failed, which is final). The role dispatches on ``action`` and composes no message itself.

Self-contained (standard library only): the ``redisible_restore_step`` filter loads this file
on the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

def _report(phase, reason, message):
    return {"action": "report", "phase": phase, "reason": reason, "message": message}


def _blocked(message):
    return _report("Pending", "RestoreBlocked", message)


def _source_step(facts):
    """The source's verdict (a report), or None when the backup is usable."""
    source_cr = facts.get("source_cr") or ""
    if source_cr and not facts.get("source_found"):
        return _blocked("RedisBackup %s not found" % source_cr)
    backup = facts.get("backup_name") or ""
    if not backup:
        return _blocked("RedisBackup %s has no completed backup yet" % source_cr)
    if facts.get("storage_problem"):
        return _blocked(facts["storage_problem"])
    if facts.get("read_error"):
        return _blocked(facts["read_error"])
    if facts.get("problems"):
        return _report("Failed", "BackupDamaged", "backup %s refused, nothing was touched: %s"
                       % (backup, "; ".join(facts["problems"])))
    return None


def restore_step(facts):
    """The next action of a restore. ``facts`` holds what has been read, keys absent until
    their step ran:

    - source (always): ``source_cr`` (the RedisBackup named, '' for a direct source),
      ``source_found``, ``backup_name`` ('' when none is known yet), ``storage_problem`` and
      ``read_error`` (why the storage or the manifest cannot be read), ``problems`` (what
      verification refused);
    - ``target``: ``target`` ('<kind> <name>'), ``target_exists``, ``target_waits`` (its
      pods wait for this restore to place the data);
    - ``place``: ``pods_waiting``, ``pods_expected``, ``placement_error`` ('' when it
      worked or did not run);
    - ``wait_target``: ``target_exists``, ``target_ready``.

    Returns ``{'action': a task file of the role: target, place, wait_target or load}``, or
    ``{'action': 'report', 'phase', 'reason', 'message'}``.
    """
    verdict = _source_step(facts)
    if verdict:
        return verdict
    if "target_waits" not in facts:
        return {"action": "target"}
    target = facts["target"]
    if "pods_expected" in facts:
        if facts.get("placement_error"):
            return _report("Failed", "PlacementFailed",
                           "%s; %s was created for this restore and its pods do not start: "
                           "delete it" % (facts["placement_error"], target))
        waiting, expected = facts["pods_waiting"], facts["pods_expected"]
        if not expected or waiting < expected:
            return _blocked("%s: %d of %d pods are waiting for the restore yet"
                            % (target, waiting, expected))
    elif facts["target_waits"]:
        return {"action": "place"}
    # Missing and not to be created, or gone while the restore waited for it.
    if not facts["target_exists"] and ("target_ready" in facts or not facts.get("target_create")):
        return _blocked("%s not found (set target.create to create it from the backup)"
                        % target)
    if "target_ready" not in facts:
        return {"action": "wait_target"}
    if not facts["target_ready"]:
        return _blocked("%s is not Ready yet" % target)
    return {"action": "load"}


def restores_waiting_for(restores, backup_cr):
    """The names of the RedisRestores (``k8s_info`` objects) that name RedisBackup
    ``backup_cr`` as their source and have not finished: the ones a finished backup wakes."""
    names = []
    for restore in restores:
        source = (restore.get("spec") or {}).get("source") or {}
        phase = (restore.get("status") or {}).get("phase")
        if source.get("redisBackup") == backup_cr and phase not in ("Completed", "Failed"):
            names.append(restore["metadata"]["name"])
    return names
