"""Every module's documentation parses (with its doc fragments) and documents every option
its argument spec takes: what `ansible-doc` shows users."""

import ast
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "library")) if f.endswith(".py"))


def argument_names(module):
    """Top-level option names of the module's argument_spec=dict(...)."""
    with open(os.path.join(ROOT, "library", module + ".py")) as handle:
        tree = ast.parse(handle.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "argument_spec" and \
                isinstance(node.value, ast.Call):
            return {k.arg for k in node.value.keywords}
    raise AssertionError("no argument_spec in %s" % module)


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_parses_and_covers_every_option(module):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-doc"), "--json", module],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)[module]["doc"]
    assert set(doc.get("options", {})) == argument_names(module)
