"""Test setup: make ``ansible.module_utils.redisible_*`` importable from this checkout."""

import os
import sys

import ansible.module_utils
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE_UTILS = os.path.join(ROOT, "module_utils")
if MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(MODULE_UTILS)
sys.path.insert(0, os.path.join(ROOT, "tests"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can dump logs on failure."""
    outcome = yield
    setattr(item, "rep_" + outcome.get_result().when, outcome.get_result())
