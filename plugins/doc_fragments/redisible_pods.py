# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""The pod lists the modules take, documented once (module_utils/redisible_pods.POD_OPTIONS;
the roles build them with the redisible_pods filter)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

_POD = r"""
    type: list
    elements: dict
    suboptions:
      name:
        description: Pod name, used in messages and the topology.
        type: str
        required: true
      host:
        description: IP address the operator and the other pods reach the pod at.
        type: str
        required: true
      port:
        description: Port of the server in the pod.
        type: int
        default: %(port)d
      shard:
        description: Shard index (a cluster's StatefulSet); 0 otherwise.
        type: int
        default: 0
      ordinal:
        description: Ordinal of the pod in its StatefulSet.
        type: int
        default: 0
      node_name:
        description: Kubernetes node the pod runs on, for placement decisions and warnings.
        type: str
      init_containers:
        description: State (waiting, running, terminated) of each init container.
        type: dict
        default: {}
"""


class ModuleDocFragment(object):
    # Option pods: the Redis pods of an instance.
    DOCUMENTATION = r"""
options:
  pods:
    description:
      - The instance's Redis pods (sentinels excluded), as the redisible_pods filter describes
        them.""" + _POD % {"port": 6379}

    # Options redis_pods and sentinels of a RedisSentinel.
    SENTINEL = r"""
options:
  redis_pods:
    description: Every Redis pod, kept and leaving, as the redisible_pods filter describes them.
    required: true""" + _POD % {"port": 6379} + r"""
  sentinels:
    description: Every sentinel pod.
    required: true""" + _POD % {"port": 26379}
