# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Filters through which the roles reach what module_utils defines once:

- ``redisible_pods``: ``k8s_info`` pod objects -> the pod descriptions every module takes
  (``redisible_pods.describe_pods``: name, host, port, shard, ordinal from the pod-index
  label, node_name, init container states); ``running=true`` keeps Running pods only.
- ``redisible_statefulset_plan``: the size of every shard StatefulSet, kept and leaving
  (``redisible_pods.statefulset_plan``: the membership rule the planners use too).
- ``redisible_spec_errors``: what is wrong with a spec (``redisible_spec.validate_spec``),
  the checks the CRD schema makes, for playbook runs without an API server.
- ``redisible_password_of``: the password of a Secret, or why it is unusable
  (``redisible_spec.password_of``); only ever in a ``no_log`` task.
- ``redisible_label_patches``: patches for the pods whose label is not the one wanted
  (``redisible_pods.label_patches``).
- ``redisible_placement``: a name of the restore-by-placement protocol
  (``'placed_file' | redisible_placement``; ``redisible_placement.NAMES``).
- ``redisible_restore_step``: a RedisRestore's next action from the facts its steps read
  (``redisible_restore_step.restore_step``).
- ``redisible_restores_waiting_for``: the unfinished RedisRestores that name a RedisBackup
  (``redisible_restore_step.restores_waiting_for``).

module_utils files of ours are not importable on the controller, so the self-contained
ones are loaded from the configured module_utils path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os

from ansible import constants as C
from ansible.errors import AnsibleFilterError

_LOADED = {}


def _module_utils(name):
    if name not in _LOADED:
        here = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "module_utils")
        paths = list(C.config.get_config_value("DEFAULT_MODULE_UTILS_PATH") or []) + [here]
        for path in paths:
            candidate = os.path.join(path, name + ".py")
            if os.path.exists(candidate):
                spec = importlib.util.spec_from_file_location("_redisible_" + name, candidate)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                _LOADED[name] = module
                break
        else:
            raise AnsibleFilterError("%s.py is in none of the module_utils paths %s"
                                     % (name, paths))
    return _LOADED[name]


def redisible_pods(resources, port=6379, running=False):
    return _module_utils("redisible_pods").describe_pods(resources, int(port), bool(running))


def redisible_statefulset_plan(existing, shards, pods_per_shard):
    return _module_utils("redisible_pods").statefulset_plan(existing, shards, pods_per_shard)


def redisible_spec_errors(spec, kind, name):
    return _module_utils("redisible_spec").validate_spec(kind, name, dict(spec))


def redisible_password_of(secret_resources, key="password"):
    return _module_utils("redisible_spec").password_of(list(secret_resources), key)


def redisible_label_patches(resources, label, values):
    return _module_utils("redisible_pods").label_patches(resources, label, dict(values))


def redisible_placement(name):
    names = _module_utils("redisible_placement").NAMES
    if name not in names:
        raise AnsibleFilterError("no placement name %r (known: %s)" % (name, ", ".join(names)))
    return names[name]


def redisible_restore_step(facts):
    return _module_utils("redisible_restore_step").restore_step(dict(facts))


def redisible_restores_waiting_for(restores, backup_cr):
    return _module_utils("redisible_restore_step").restores_waiting_for(list(restores),
                                                                        backup_cr)


class FilterModule(object):
    def filters(self):
        return {"redisible_pods": redisible_pods, "redisible_placement": redisible_placement,
                "redisible_label_patches": redisible_label_patches,
                "redisible_password_of": redisible_password_of,
                "redisible_spec_errors": redisible_spec_errors,
                "redisible_restore_step": redisible_restore_step,
                "redisible_restores_waiting_for": redisible_restores_waiting_for,
                "redisible_statefulset_plan": redisible_statefulset_plan}
