# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""The Kubernetes client of every module that calls the API itself (status, progress, exec
into pods), and the coordinates of our own kinds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def api_client(kubeconfig=None):
    """ApiClient from a kubeconfig path (or K8S_AUTH_KUBECONFIG, as kubernetes.core reads it),
    else in-cluster, else the default kubeconfig."""
    from kubernetes import client, config

    kubeconfig = kubeconfig or os.environ.get("K8S_AUTH_KUBECONFIG")
    if kubeconfig:
        return config.new_client_from_config(config_file=kubeconfig)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
        return client.ApiClient()
    return config.new_client_from_config()


def custom_objects_api(kubeconfig=None):
    from kubernetes import client

    return client.CustomObjectsApi(api_client(kubeconfig))


# The resource names of our kinds (the CRDs use the same map: hack/gen_crds.py).
PLURALS = {"Redis": "redis", "RedisSentinel": "redissentinels", "RedisCluster": "redisclusters",
           "RedisBackup": "redisbackups", "RedisRestore": "redisrestores"}


def resource_coordinates(api_version, kind):
    """(group, version, plural) of one of our kinds."""
    group, _, version = api_version.rpartition("/")
    return group, version, PLURALS.get(kind, kind.lower() + "s")


# One of our resources as a module's target (plugins/doc_fragments/redisible_k8s_target.py).
TARGET_OPTIONS = dict(
    api_version=dict(type="str", required=True),
    kind=dict(type="str", required=True),
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    kubeconfig=dict(type="path"),
)
