"""Real Redis processes, sentinels, an S3-compatible server and data checks, shared by the
tests, the benchmarks (bench/) and hack/demo.py. Importing this package puts the checkout's
module_utils under ``ansible.module_utils`` and this folder on the import path, so that
``from redis_harness import ...`` and ``from ansible.module_utils.redisible_... import ...``
work from any of them."""

import os
import sys

import ansible.module_utils

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODULE_UTILS = os.path.join(ROOT, "module_utils")
if MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(MODULE_UTILS)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
