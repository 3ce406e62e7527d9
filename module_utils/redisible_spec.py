# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""What a spec may say, shared by the CRD generator, the roles' validation and the tests.

The API server enforces the CRD schema; playbook users have no API server, so the roles run
the same checks (the ``redisible_spec_errors`` filter) before touching anything, and take the
password out of its Secret through ``redisible_password_of``.

Self-contained (standard library only): the filters load this file on the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re

SUPPORTED_VERSIONS = ("5.0", "6.0", "6.2", "7.0")

# redis.conf directives the operator writes itself; a user value would break it.
OWNED_DIRECTIVES = (
    "port", "bind", "dir", "daemonize", "supervised", "pidfile", "logfile", "include",
    "protected-mode", "requirepass", "masterauth", "masteruser", "user", "aclfile",
    "replicaof", "slaveof", "rename-command", "cluster-enabled", "cluster-config-file",
    "cluster-announce-ip", "cluster-announce-port", "cluster-announce-bus-port",
    "cluster-migration-barrier", "cluster-allow-replica-migration",
    "replica-announce-ip", "replica-announce-port", "slave-announce-ip", "slave-announce-port",
)

# A password goes into redis.conf unquoted: no blanks, quotes or backslashes.
PASSWORD_PATTERN = re.compile(r"^[A-Za-z0-9!#$%&()*+,./:;<=>?@\[\]^_{|}~-]{8,512}$")
DIRECTIVE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
QUANTITY_PATTERN = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

LIMITS = {
    "RedisCluster": {"shards": (3, 100), "replicasPerShard": (0, 5)},
    "RedisSentinel": {"replicas": (1, 10), "sentinel.replicas": (1, 7),
                      "sentinel.quorum": (1, 7),
                      "sentinel.downAfterMilliseconds": (100, 600000),
                      "sentinel.failoverTimeout": (1000, 3600000),
                      "sentinel.parallelSyncs": (1, 10)},
    "Redis": {},
}
MASTER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _lookup(spec, path):
    value = spec
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _int_in(errors, spec, field, low, high):
    value = _lookup(spec, field)
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append("spec.%s must be an integer, got %r" % (field, value))
    elif not low <= value <= high:
        errors.append("spec.%s must be between %d and %d, got %d" % (field, low, high, value))


def validate_spec(kind, name, spec):
    """Every problem with a (defaulted) spec, as sentences; empty when it is valid."""
    errors = []
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > 40:
        errors.append("metadata.name %r must be a DNS label of at most 40 characters "
                      "(pod and StatefulSet names are built from it)" % (name,))
    if spec.get("version") not in SUPPORTED_VERSIONS:
        errors.append("spec.version must be one of %s, got %r" % (
            ", ".join(SUPPORTED_VERSIONS), spec.get("version")))
    for field, (low, high) in LIMITS.get(kind, {}).items():
        _int_in(errors, spec, field, low, high)
    config = spec.get("redisConfig") or {}
    if not isinstance(config, dict):
        errors.append("spec.redisConfig must be a map of directive -> value")
        config = {}
    owned = sorted(k for k in config if k in OWNED_DIRECTIVES)
    if owned:
        errors.append("spec.redisConfig may not set %s: the operator owns %s" % (
            ", ".join(owned), "it" if len(owned) == 1 else "them"))
    for key, value in sorted(config.items()):
        if not DIRECTIVE_PATTERN.match(str(key)):
            errors.append("spec.redisConfig key %r is not a redis.conf directive name" % key)
        if not isinstance(value, str):
            errors.append("spec.redisConfig.%s must be a string (quote numbers), got %r" % (
                key, value))
        elif "\n" in value or "\r" in value:
            errors.append("spec.redisConfig.%s must be a single line" % key)
    secret = spec.get("passwordSecret") or {}
    if secret and not secret.get("name"):
        errors.append("spec.passwordSecret needs a name (or leave it out to generate one)")
    storage = spec.get("storage") or {}
    if not QUANTITY_PATTERN.match(str(storage.get("size", ""))):
        errors.append("spec.storage.size %r is not a Kubernetes quantity" % storage.get("size"))
    if storage.get("reclaimPolicy") not in ("Retain", "Delete"):
        errors.append("spec.storage.reclaimPolicy must be Retain or Delete")
    if kind == "RedisSentinel":
        errors.extend(_sentinel_errors(spec.get("sentinel") or {}))
    policy = (spec.get("antiAffinity") or {}).get("policy")
    if policy not in ("required", "preferred"):
        errors.append("spec.antiAffinity.policy must be required or preferred")
    return errors


def _sentinel_errors(sentinel):
    errors = []
    quorum, count = sentinel.get("quorum"), sentinel.get("replicas")
    if isinstance(quorum, int) and isinstance(count, int) and quorum > count:
        errors.append("spec.sentinel.quorum (%d) cannot be more than spec.sentinel.replicas "
                      "(%d): no failover could ever be agreed" % (quorum, count))
    if not MASTER_NAME_PATTERN.match(str(sentinel.get("masterName", ""))):
        errors.append("spec.sentinel.masterName %r must be letters, digits, '.', '_' or '-'"
                      % sentinel.get("masterName"))
    return errors


def password_problem(password):
    """Why a password cannot be used (never echoing it), or None."""
    if password is None or password == "":
        return "the password is empty"
    if not PASSWORD_PATTERN.match(password):
        return ("the password must be 8 to 512 characters without blanks, quotes or "
                "backslashes")
    return None


def password_of(secret_resources, key="password"):
    """The password in a Secret as ``k8s_info`` lists it (an empty list when it is missing):
    ``{'problem': None, 'password': ...}``, or ``{'problem': why}`` (never echoing it)."""
    if not secret_resources:
        return {"problem": "the Secret does not exist"}
    data = (secret_resources[0].get("data") or {}).get(key)
    if data is None:
        return {"problem": "the Secret has no key %r" % key}
    try:
        password = base64.b64decode(data).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return {"problem": "the value is not UTF-8 text"}
    problem = password_problem(password)
    return {"problem": problem} if problem else {"problem": None, "password": password}
