# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""One of our custom resources as a module's target (module_utils/redisible_k8s_client
.TARGET_OPTIONS), documented once: as top-level options, or as the suboptions of
``progress_to``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

_TARGET = r"""
%(indent)sapi_version: {description: API group/version of the resource., type: str, required: true}
%(indent)skind: {description: Kind of the resource., type: str, required: true}
%(indent)sname: {description: Name of the resource., type: str, required: true}
%(indent)snamespace: {description: Namespace of the resource., type: str, required: true}
%(indent)skubeconfig:
%(indent)s  description: Path to a kubeconfig; in-cluster configuration is used when omitted.
%(indent)s  type: path
"""


class ModuleDocFragment(object):
    DOCUMENTATION = "options:" + _TARGET % {"indent": "  "}

    PROGRESS_TO = r"""
options:
  progress_to:
    description:
      - A custom resource whose C(status.resharding) (slotsMoved, slotsTotal, keysMoved) is
        updated every few seconds while slots move. Omit to report nothing.
    type: dict
    suboptions:""" + _TARGET % {"indent": "      "}
