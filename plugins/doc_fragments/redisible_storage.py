# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""The ``storage`` option every backup module takes, documented once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


# The storage option's suboptions, placed at any depth by _nested().
_STORAGE = r"""
type:
  description:
    - C(directory) (a local directory, for example a mounted PVC), C(pod) (a directory in
      a running pod, reached through the Kubernetes exec API; the pod needs sh, head, dd,
      cat, wc, mv and rm) or C(s3).
  type: str
  required: true
  choices: [directory, pod, s3]
path: {description: The directory (types directory and pod)., type: str}
namespace: {description: The pod's namespace (type pod)., type: str}
pod: {description: The pod (type pod)., type: str}
container:
  description: The pod's container (type pod); its only one when omitted.
  type: str
kubeconfig:
  description:
    - Kubeconfig for the exec API (type pod); in-cluster or the default kubeconfig
      when omitted.
  type: path
location:
  description: "How locations are shown (type pod), for example pvc://claim/dir."
  type: str
bucket: {description: The bucket (type s3)., type: str}
prefix: {description: Key prefix inside the bucket., type: str, default: ""}
endpoint: {description: S3 endpoint URL (AWS when omitted)., type: str}
region: {description: S3 region., type: str}
access_key: {description: S3 access key id., type: str}
secret_key: {description: S3 secret key., type: str}
verify_tls: {description: Verify the endpoint's TLS certificate., type: bool, default: true}
ca_bundle: {description: CA bundle file for the endpoint., type: str}
"""


def _nested(indent):
    return "".join(indent + line if line else line for line in _STORAGE.splitlines(True))


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  storage:
    description: Where backups live.
    type: dict
    required: true
    suboptions:""" + _nested("      ") + r"""requirements:
  - boto3 (S3 storage)
  - kubernetes (pod storage)
"""

    # The pods' volumes of a target a restore places files into, as one store that
    # redis_restore fills in per pod (action=place with pods).
    VOLUME_STORAGE = r"""
options:
  volume_storage:
    description:
      - For I(action=place) with I(pods), the store of every pod's data volume (C(type=pod),
        its path); each pod's name and container (its restore-wait init container while it
        waits) are filled in. The pod of ordinal 0 loads its shard's file.
    type: dict
    suboptions:""" + _nested("      ") + r"""
"""

    # The volumes of a target a restore places files into (redis_restore action=place).
    VOLUMES = r"""
options:
  volumes:
    description:
      - For I(action=place), the data volume of every pod of the target, reached through a
        store (usually C(type=pod) with the pod's init container).
    type: list
    elements: dict
    suboptions:
      name: {description: The pod's name (for messages)., type: str, required: true}
      shard: {description: Shard index; 0 outside a cluster., type: int, default: 0}
      primary:
        description: The pod that loads the shard's file (one per shard).
        type: bool
        default: false
      storage:
        description: The volume's root, given as the I(storage) option is.
        type: dict
        required: true
        suboptions:""" + _nested("          ")
