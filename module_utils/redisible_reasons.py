# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""The status vocabulary, in one place: every reason a condition of ours can carry, the state
it stands for, and what each state makes of the three conditions.

Roles report an outcome (a reason and a human message); ``redisible_status`` turns it into
Ready / Progressing / Degraded from these tables. Docs and alert rules cite these reasons.
Self-contained (standard library only).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# State -> status of (Ready, Progressing, Degraded).
STATES = {
    "Ready": ("True", "False", "False"),          # serving as the spec asks
    "Progressing": ("False", "True", "False"),    # working towards the spec
    "Waiting": ("False", "True", "True"),         # working, held up by something outside
    "Blocked": ("False", "False", "True"),        # waits for the user to fix something
    "Failed": ("False", "False", "True"),         # this attempt failed; retried or final
    "NotReady": ("False", "False", "False"),      # converged, but not healthy yet
    "Paused": ("Unknown", "False", "False"),      # spec.paused: nothing is reconciled
}

# Reason -> (state, what it means). A problem (PROBLEMS) rides along with an outcome: it sets
# Degraded while Ready keeps the outcome's state (serving, with less redundancy than asked).
REASONS = {
    # Redis, RedisSentinel, RedisCluster
    "RedisOK": ("Ready", "the standalone Redis answers as a master"),
    "MasterOK": ("Ready", "one master, every replica in sync, every sentinel agrees"),
    "ClusterOK": ("Ready", "every shard has its master and replicas, every slot is served"),
    "Converging": ("Progressing", "the operator is changing the live instance"),
    "WaitingForRestore": ("Progressing", "a RedisRestore is placing data in the volumes"),
    "ReplicasNotInSync": ("NotReady", "the master serves; a replica or sentinel lags behind"),
    "ClusterNotOK": ("NotReady", "a node does not report cluster_state:ok yet"),
    "RedisNotAnswering": ("Failed", "the Redis pod does not answer as a master"),
    "Unschedulable": ("Waiting", "the scheduler cannot place a pod"),
    "InvalidSpec": ("Blocked", "the spec is refused; nothing was changed"),
    "PasswordUnusable": ("Blocked", "the password Secret is missing or unusable"),
    "ConvergeFailed": ("Failed", "a converge step failed; retried at the next reconcile"),
    "ShardDataLost": ("Blocked", "slots whose only copy is gone stay uncovered until the user "
                      "accepts the loss (annotation) or restores them"),
    "Paused": ("Paused", "spec.paused is true"),
    # RedisBackup
    "BackupPending": ("Progressing", "the backup waits for its next run"),
    "BackupRunning": ("Progressing", "the backup is being taken"),
    "BackupCompleted": ("Ready", "the backup is stored with its manifest"),
    "BackupFailed": ("Failed", "the backup failed; nothing partial is kept"),
    "InstanceNotReady": ("Blocked", "the instance to back up is missing or not Ready"),
    "StorageUnavailable": ("Blocked", "the backup storage cannot be reached or used"),
    # RedisRestore
    "RestorePending": ("Progressing", "the restore waits for its target"),
    "RestoreRunning": ("Progressing", "the restore is loading data"),
    "RestoreCompleted": ("Ready", "the target holds the backup's data"),
    "RestoreFailed": ("Failed", "the restore failed"),
    "RestoreBlocked": ("Blocked", "the restore cannot start: source or target unusable"),
    "BackupDamaged": ("Failed", "the backup is refused before the target was touched"),
    "PlacementFailed": ("Failed", "placing the backup into the target's volumes failed"),
}

PROBLEMS = {
    "PlacementConflict": "pods that replicate each other share a node",
}


def condition_triple(reason, message, problem=None):
    """The Ready, Progressing and Degraded conditions of one outcome. Each carries the
    outcome's reason; the message goes to Ready always (the line users read) and to the
    conditions the state sets. ``problem`` ({reason, message}) sets Degraded on its own."""
    if reason not in REASONS:
        raise ValueError("unknown status reason %r (module_utils/redisible_reasons.py)" % reason)
    ready, progressing, degraded = STATES[REASONS[reason][0]]
    conditions = [
        {"type": "Ready", "status": ready, "reason": reason, "message": message},
        {"type": "Progressing", "status": progressing, "reason": reason,
         "message": message if progressing == "True" else ""},
        {"type": "Degraded", "status": degraded, "reason": reason,
         "message": message if degraded == "True" else ""},
    ]
    if problem:
        if problem["reason"] not in PROBLEMS:
            raise ValueError("unknown status problem %r (module_utils/redisible_reasons.py)"
                             % problem["reason"])
        conditions[2] = {"type": "Degraded", "status": "True", "reason": problem["reason"],
                         "message": problem.get("message") or ""}
    return conditions


def warning_of(conditions):
    """The (reason, message) a Warning Event reports for these conditions, or None."""
    degraded = conditions[2]
    if degraded["status"] == "True":
        return degraded["reason"], degraded["message"]
    return None
