"""Test setup: make ``ansible.module_utils.redisible_*`` importable from this checkout."""

import os
import sys

import ansible.module_utils

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE_UTILS = os.path.join(ROOT, "module_utils")
if MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(MODULE_UTILS)
sys.path.insert(0, os.path.join(ROOT, "tests"))
