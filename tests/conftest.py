"""Test setup: ``ansible.module_utils.redisible_*`` and the harness modules (harness/)
importable from this checkout."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import harness  # noqa: E402,F401  (module_utils and the harness modules on the import path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can dump logs on failure."""
    outcome = yield
    setattr(item, "rep_" + outcome.get_result().when, outcome.get_result())
