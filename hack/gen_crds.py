#!/usr/bin/env python3
"""Generate config/crd/bases/*.yaml from one definition of the fields every kind shares.

Run `make crds` after editing; test_committed_crds_match_the_generator (tests/unit/
test_manifests.py) fails when the committed CRDs differ from what this prints. Owned redis.conf
directives come from module_utils so that the CRD, the role's validation and the tests reject
the same list.
"""

import copy
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "module_utils"))

from redisible_k8s_client import PLURALS  # noqa: E402
from redisible_spec import OWNED_DIRECTIVES, SUPPORTED_VERSIONS  # noqa: E402

GROUP = "redis.redisible.io"
VERSION = "v1alpha1"

QUANTITY = {"anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"}


def owned_rule():
    names = ", ".join("'%s'" % d for d in OWNED_DIRECTIVES)
    return {
        "rule": "self.all(k, !(k in [%s]))" % names,
        "message": ("redisConfig may not set directives the operator owns: %s"
                    % ", ".join(OWNED_DIRECTIVES)),
    }


def common_spec():
    """Fields every kind has: image, config, password, resources, storage, placement."""
    return {
        "version": {
            "type": "string", "enum": list(SUPPORTED_VERSIONS), "default": "7.0",
            "description": "Redis major.minor version; selects the default image."},
        "image": {
            "type": "string", "minLength": 1,
            "description": "Container image; overrides the one chosen by version (the version "
                           "must still say what the image runs)."},
        "imagePullPolicy": {
            "type": "string", "enum": ["Always", "IfNotPresent", "Never"],
            "default": "IfNotPresent"},
        "redisConfig": {
            "type": "object", "maxProperties": 200,
            "description": "redis.conf directives (name -> value). Directives the operator "
                           "owns are rejected.",
            "additionalProperties": {"type": "string", "maxLength": 4096},
            "x-kubernetes-validations": [
                owned_rule(),
                {"rule": "self.all(k, k.matches('^[a-z][a-z0-9-]*$'))",
                 "message": "redisConfig keys are lower-case redis.conf directive names"},
                {"rule": "self.all(k, !self[k].contains('\\n') && !self[k].contains('\\r'))",
                 "message": "redisConfig values must be a single line"},
            ]},
        "passwordSecret": {
            "type": "object", "required": ["name"],
            "description": "Secret holding the password; generated when absent.",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 253},
                "key": {"type": "string", "default": "password", "minLength": 1}}},
        "resources": {
            "type": "object",
            "properties": {
                "requests": {"type": "object", "additionalProperties": QUANTITY},
                "limits": {"type": "object", "additionalProperties": QUANTITY}}},
        "storage": {
            "type": "object", "default": {},
            "properties": {
                "size": dict(QUANTITY, default="1Gi"),
                "storageClassName": {"type": "string"},
                "reclaimPolicy": {
                    "type": "string", "enum": ["Retain", "Delete"], "default": "Retain",
                    "description": "Keep (Retain) or delete (Delete) the PVCs with the CR."}}},
        "antiAffinity": {
            "type": "object", "default": {},
            "properties": {
                "policy": {"type": "string", "enum": ["required", "preferred"],
                           "default": "preferred",
                           "description": "Keep a shard's pods on different nodes: required "
                                          "(pods stay Pending otherwise) or preferred."},
                "topologyKey": {"type": "string", "default": "kubernetes.io/hostname"}}},
        "affinity": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                     "description": "Extra pod affinity merged into the pods' affinity."},
        "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
        "tolerations": {
            "type": "array",
            "items": {"type": "object", "properties": {
                "key": {"type": "string"},
                "operator": {"type": "string", "enum": ["Exists", "Equal"]},
                "value": {"type": "string"},
                "effect": {"type": "string",
                           "enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
                "tolerationSeconds": {"type": "integer"}}}},
        "service": {
            "type": "object", "default": {},
            "properties": {
                "type": {"type": "string", "enum": ["ClusterIP", "NodePort", "LoadBalancer"],
                         "default": "ClusterIP"},
                "annotations": {"type": "object",
                                "additionalProperties": {"type": "string"}}}},
        "paused": {"type": "boolean", "default": False,
                   "description": "Stop reconciling (for manual maintenance)."},
    }


def conditions_schema():
    return {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object", "required": ["type", "status"],
            "properties": {
                "type": {"type": "string"},
                "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                "reason": {"type": "string"},
                "message": {"type": "string"},
                "lastTransitionTime": {"type": "string", "format": "date-time"},
                "observedGeneration": {"type": "integer"}}}}


def member_schema():
    return {"type": "object", "properties": {
        "pod": {"type": "string"}, "ip": {"type": "string"}, "port": {"type": "integer"},
        "nodeId": {"type": "string"}, "node": {"type": "string", "nullable": True},
        "keys": {"type": "integer"}, "slots": {"type": "string"},
        "slotCount": {"type": "integer"}, "masterId": {"type": "string", "nullable": True},
        "linkStatus": {"type": "string", "nullable": True}}}


def common_status():
    return {
        "observedGeneration": {"type": "integer"},
        "conditions": conditions_schema(),
        "passwordSecret": {"type": "string"},
        "version": {"type": "string"},
        "antiAffinity": {"type": "object", "properties": {
            "policy": {"type": "string"}, "satisfied": {"type": "boolean"},
            "message": {"type": "string"}}},
    }


def rediscluster_schema():
    spec = common_spec()
    spec.update({
        "shards": {"type": "integer", "minimum": 3, "maximum": 100, "default": 3,
                   "description": "Number of masters; slots and keys move when it changes."},
        "replicasPerShard": {"type": "integer", "minimum": 0, "maximum": 5, "default": 1},
    })
    status = common_status()
    status.update({
        "readyShards": {"type": "integer"},
        "shards": {"type": "array", "items": {"type": "object", "properties": {
            "shard": {"type": "integer"}, "master": member_schema(),
            "replicas": {"type": "array", "items": member_schema()}}}},
        "resharding": {"type": "object", "properties": {
            "slotsMoved": {"type": "integer"}, "slotsTotal": {"type": "integer"},
            "keysMoved": {"type": "integer"}}},
        "placementConflicts": {"type": "array", "items": {"type": "string"}},
        # Slots whose only copy is gone (reason ShardDataLost), and the losses users accepted.
        "lostSlots": {"type": "array", "items": lost_slots_schema()},
        "acceptedDataLoss": {"type": "array", "items": lost_slots_schema()},
    })
    return spec, status


def lost_slots_schema():
    return {"type": "object", "properties": {
        "nodeId": {"type": "string"}, "address": {"type": "string"},
        "shard": {"type": "integer", "nullable": True}, "slots": {"type": "string"},
        "slotCount": {"type": "integer"}}}


def redis_schema():
    """Standalone: one Redis pod with its volume."""
    status = common_status()
    status.update({
        "pod": {"type": "string"}, "ip": {"type": "string"}, "node": {"type": "string"},
        "role": {"type": "string"}, "keys": {"type": "integer"},
        "usedMemoryBytes": {"type": "integer"},
    })
    return common_spec(), status


def redissentinel_schema():
    spec = common_spec()
    spec.update({
        "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3,
                     "description": "Redis pods: the master and its replicas. Scale-down "
                                    "never removes the master (the sentinels fail over first)."},
        "sentinel": {
            "type": "object", "default": {},
            "x-kubernetes-validations": [{
                # has(): the API server also checks the {} default, before nested defaulting.
                "rule": "!has(self.quorum) || !has(self.replicas) || self.quorum <= self.replicas",
                "message": "sentinel.quorum cannot be more than sentinel.replicas"}],
            "properties": {
                "replicas": {"type": "integer", "minimum": 1, "maximum": 7, "default": 3,
                             "description": "Sentinel pods (odd numbers tolerate the most "
                                            "failures)."},
                "quorum": {"type": "integer", "minimum": 1, "maximum": 7, "default": 2,
                           "description": "Sentinels that must agree the master is down."},
                "masterName": {"type": "string", "default": "mymaster",
                               "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                               "description": "Name clients ask the sentinels for."},
                "downAfterMilliseconds": {"type": "integer", "minimum": 100,
                                          "maximum": 600000, "default": 5000},
                "failoverTimeout": {"type": "integer", "minimum": 1000, "maximum": 3600000,
                                    "default": 60000},
                "parallelSyncs": {"type": "integer", "minimum": 1, "maximum": 10,
                                  "default": 1},
                "resources": common_spec()["resources"]}},
    })
    replica = {"type": "object", "properties": {
        "pod": {"type": "string"}, "ip": {"type": "string"}, "port": {"type": "integer"},
        "node": {"type": "string", "nullable": True}, "keys": {"type": "integer"},
        "linkStatus": {"type": "string"}, "lagBytes": {"type": "integer", "nullable": True}}}
    status = common_status()
    status.update({
        "masterName": {"type": "string"},
        "readyReplicas": {"type": "integer"},
        "master": {"type": "object", "nullable": True, "properties": {
            "pod": {"type": "string"}, "ip": {"type": "string"}, "port": {"type": "integer"},
            "node": {"type": "string", "nullable": True}, "keys": {"type": "integer"}}},
        "replicas": {"type": "array", "items": replica},
        "sentinels": {"type": "array", "items": {"type": "object", "properties": {
            "pod": {"type": "string"}, "ip": {"type": "string"}, "port": {"type": "integer"},
            "node": {"type": "string", "nullable": True},
            "master": {"type": "string", "nullable": True},
            "knownSentinels": {"type": "integer"}, "knownReplicas": {"type": "integer"},
            "reachable": {"type": "boolean"}}}},
        "placementConflicts": {"type": "array", "items": {"type": "string"}},
    })
    return spec, status


INSTANCE_KINDS = ["Redis", "RedisSentinel", "RedisCluster"]
CRON = (r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
        r"([0-9*/,-]+ ){4}[0-9A-Za-z*/,-]+)$")


def s3_schema():
    return {
        "type": "object", "required": ["bucket", "credentialsSecret"],
        "description": "An S3-compatible bucket (AWS, MinIO, Ceph RGW, ...).",
        "properties": {
            "endpoint": {"type": "string", "pattern": "^https?://",
                         "description": "Endpoint URL; AWS S3 when omitted."},
            "bucket": {"type": "string", "minLength": 3, "maxLength": 63},
            "prefix": {"type": "string", "default": "", "maxLength": 512,
                       "description": "Key prefix; backups go under <prefix>/<namespace>/."},
            "region": {"type": "string", "default": "us-east-1"},
            "credentialsSecret": {
                "type": "object", "required": ["name"],
                "description": "Secret with the access key id and secret key.",
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "accessKeyIdKey": {"type": "string", "default": "AWS_ACCESS_KEY_ID"},
                    "secretAccessKeyKey": {"type": "string",
                                           "default": "AWS_SECRET_ACCESS_KEY"}}},
            "insecureSkipTLSVerify": {"type": "boolean", "default": False}}}


def pvc_schema(creatable):
    properties = {
        "claimName": {"type": "string", "minLength": 1, "maxLength": 253,
                      "description": "The PersistentVolumeClaim, in this namespace."},
        "path": {"type": "string", "default": "", "maxLength": 512,
                 "description": "Directory inside the volume; backups go under it."}}
    description = "A PersistentVolumeClaim; the operator reaches it through a small pod."
    if creatable:
        properties["size"] = dict(QUANTITY, description="Create the claim with this size "
                                  "when it does not exist; without it a missing claim blocks "
                                  "the backup.")
        properties["storageClassName"] = {"type": "string",
                                          "description": "StorageClass of a claim the backup "
                                                         "creates; the default class when "
                                                         "empty."}
        description += " Created when missing and size is given."
    return {"type": "object", "required": ["claimName"], "description": description,
            "properties": properties}


def backup_file_schema():
    return {"type": "object", "properties": {
        "shard": {"type": "integer"}, "file": {"type": "string"},
        "bytes": {"type": "integer"}, "sha256": {"type": "string"},
        "keys": {"type": "integer"}, "sourcePod": {"type": "string"},
        "slots": {"type": "string"}}}


def redisbackup_schema():
    spec = {
        "instance": {
            "type": "object", "required": ["kind", "name"],
            "description": "The instance to back up, in the backup's namespace.",
            "properties": {"kind": {"type": "string", "enum": INSTANCE_KINDS},
                           "name": {"type": "string", "minLength": 1, "maxLength": 63}}},
        "storage": {
            "type": "object",
            "description": "Where the backup is stored: an S3 bucket or a PVC.",
            "x-kubernetes-validations": [{
                "rule": "has(self.s3) != has(self.pvc)",
                "message": "storage needs exactly one of s3 and pvc"}],
            "properties": {"s3": s3_schema(), "pvc": pvc_schema(True)}},
        "schedule": {"type": "string", "pattern": CRON,
                     "description": "Cron schedule (5 fields, UTC) for recurring backups; "
                                    "without it one backup is taken."},
        "suspend": {"type": "boolean", "default": False,
                    "description": "Take no scheduled backups while true."},
        "retention": {
            "type": "object",
            "description": "For scheduled backups: a backup is kept while it is among the "
                           "newest keepLast or younger than keepDays; the newest is always "
                           "kept.",
            "properties": {"keepLast": {"type": "integer", "minimum": 1},
                           "keepDays": {"type": "integer", "minimum": 1}}},
        "deletePolicy": {
            "type": "string", "enum": ["Retain", "Delete"], "default": "Retain",
            "description": "On deleting this RedisBackup keep (Retain) or delete (Delete) "
                           "the stored backups it took."},
        "timeoutSeconds": {"type": "integer", "minimum": 10, "default": 3600},
    }
    status = {
        "observedGeneration": {"type": "integer"},
        "conditions": conditions_schema(),
        "phase": {"type": "string",
                  "enum": ["Pending", "Running", "Completed", "Failed"]},
        "message": {"type": "string"},
        "backupName": {"type": "string"},
        "location": {"type": "string"},
        "startedAt": {"type": "string"}, "completedAt": {"type": "string"},
        "totalBytes": {"type": "integer"}, "keys": {"type": "integer"},
        "redisVersion": {"type": "string"}, "rdbVersion": {"type": "integer"},
        "files": {"type": "array", "items": backup_file_schema()},
        "lastScheduleTime": {"type": "string"}, "nextScheduleTime": {"type": "string"},
        "backups": {"type": "array", "items": {"type": "string"},
                    "description": "Stored backups this RedisBackup took (kept by retention)."},
    }
    return spec, status


def redisrestore_schema():
    spec = {
        "source": {
            "type": "object",
            "description": "A RedisBackup by name (its latest backup unless backupName is "
                           "given), or a location.",
            "x-kubernetes-validations": [{
                "rule": "(has(self.redisBackup) ? 1 : 0) + (has(self.s3) ? 1 : 0) + "
                        "(has(self.pvc) ? 1 : 0) == 1",
                "message": "source needs exactly one of redisBackup, s3 and pvc"}, {
                "rule": "has(self.redisBackup) || has(self.backupName)",
                "message": "a source given by location needs backupName"}],
            "properties": {
                "redisBackup": {"type": "string", "minLength": 1},
                "backupName": {"type": "string", "minLength": 1,
                               "description": "The stored backup's name (see the "
                                              "RedisBackup status)."},
                "s3": s3_schema(), "pvc": pvc_schema(False)}},
        "target": {
            "type": "object", "required": ["kind", "name"],
            "properties": {
                "kind": {"type": "string", "enum": INSTANCE_KINDS},
                "name": {"type": "string", "minLength": 1, "maxLength": 63},
                "create": {"type": "boolean", "default": False,
                           "description": "Create the target from the backed-up spec (with "
                                          "overrides) when it does not exist."},
                "overrides": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                              "description": "Spec fields that replace the backed-up ones "
                                             "when the target is created."}}},
        "timeoutSeconds": {"type": "integer", "minimum": 10, "default": 3600},
    }
    status = {
        "observedGeneration": {"type": "integer"},
        "conditions": conditions_schema(),
        "phase": {"type": "string",
                  "enum": ["Pending", "Running", "Completed", "Failed"]},
        "message": {"type": "string"},
        "backupName": {"type": "string"}, "location": {"type": "string"},
        "method": {"type": "string"}, "keys": {"type": "integer"},
        "seconds": {"type": "number"},
        "startedAt": {"type": "string"}, "completedAt": {"type": "string"},
    }
    return spec, status


def phase_columns(extra):
    return extra + [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Message", "type": "string", "priority": 1, "jsonPath": ".status.message"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]


def crd(kind, short_names, spec, status, columns):
    plural = PLURALS[kind]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "%s.%s" % (plural, GROUP)},
        "spec": {
            "group": GROUP,
            "names": {"kind": kind, "listKind": kind + "List", "plural": plural,
                      "singular": kind.lower(), "shortNames": short_names,
                      "categories": ["redisible"]},
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": {"type": "object", "default": {}, "properties": spec},
                        "status": {"type": "object", "properties": status}}}}}]}}


def ready_columns(extra):
    return extra + [
        {"name": "Ready", "type": "string",
         "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
        {"name": "Reason", "type": "string", "priority": 1,
         "jsonPath": ".status.conditions[?(@.type==\"Ready\")].reason"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]


def all_crds():
    spec, status = rediscluster_schema()
    redis_spec, redis_status = redis_schema()
    sentinel_spec, sentinel_status = redissentinel_schema()
    return {
        "redis.redisible.io_redis.yaml": crd(
            "Redis", ["rds"], redis_spec, redis_status, ready_columns([
                {"name": "Version", "type": "string", "jsonPath": ".spec.version"},
                {"name": "Pod", "type": "string", "jsonPath": ".status.pod"},
                {"name": "Keys", "type": "integer", "jsonPath": ".status.keys"},
            ])),
        "redis.redisible.io_redissentinels.yaml": crd(
            "RedisSentinel", ["rdsn"], sentinel_spec,
            sentinel_status, ready_columns([
                {"name": "Version", "type": "string", "jsonPath": ".spec.version"},
                {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                {"name": "Sentinels", "type": "integer", "jsonPath": ".spec.sentinel.replicas"},
                {"name": "Master", "type": "string", "jsonPath": ".status.master.pod"},
            ])),
        "redis.redisible.io_redisbackups.yaml": crd(
            "RedisBackup", ["rdbk"], *redisbackup_schema(), columns=phase_columns([
                {"name": "Instance", "type": "string", "jsonPath": ".spec.instance.name"},
                {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
                {"name": "Backup", "type": "string", "jsonPath": ".status.backupName"},
                {"name": "Bytes", "type": "integer", "jsonPath": ".status.totalBytes"},
            ])),
        "redis.redisible.io_redisrestores.yaml": crd(
            "RedisRestore", ["rdrs"], *redisrestore_schema(), columns=phase_columns([
                {"name": "Target", "type": "string", "jsonPath": ".spec.target.name"},
                {"name": "Backup", "type": "string", "jsonPath": ".status.backupName"},
                {"name": "Keys", "type": "integer", "jsonPath": ".status.keys"},
            ])),
        "redis.redisible.io_redisclusters.yaml": crd(
            "RedisCluster", ["rdc"], spec, status, ready_columns([
                {"name": "Version", "type": "string", "jsonPath": ".spec.version"},
                {"name": "Shards", "type": "integer", "jsonPath": ".spec.shards"},
                {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicasPerShard"},
                {"name": "Ready Shards", "type": "integer", "jsonPath": ".status.readyShards"},
            ])),
    }


def render(document):
    return yaml.safe_dump(copy.deepcopy(document), sort_keys=False, width=100)


def main():
    target = os.path.join(ROOT, "config", "crd", "bases")
    os.makedirs(target, exist_ok=True)
    for name, document in all_crds().items():
        with open(os.path.join(target, name), "w") as handle:
            handle.write("---\n" + render(document))
        print("wrote config/crd/bases/" + name)


if __name__ == "__main__":
    main()
