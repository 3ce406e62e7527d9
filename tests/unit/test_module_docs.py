"""Every module's documentation parses (with its doc fragments) and documents every option and
suboption its argument spec takes, no more: what `ansible-doc` shows users."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "library")) if f.endswith(".py"))


class _SpecSeen(Exception):
    pass


def argument_spec(module):
    """The argument spec the module really builds: its main() runs until AnsibleModule is
    constructed (shared option dicts included, which reading the source would miss)."""
    import ansible.module_utils.basic as basic

    seen = {}

    def capture(*args, **kwargs):
        seen.update(kwargs.get("argument_spec") or args[0])
        raise _SpecSeen()

    path = os.path.join(ROOT, "library", module + ".py")
    with open(path) as handle:
        code = compile(handle.read(), path, "exec")
    namespace = {"__name__": "redisible_doc_test_" + module}
    exec(code, namespace)
    original = basic.AnsibleModule
    basic.AnsibleModule = capture
    namespace["AnsibleModule"] = capture
    try:
        namespace["main"]()
    except _SpecSeen:
        pass
    finally:
        basic.AnsibleModule = original
    assert seen, "no AnsibleModule in %s" % module
    return seen


def option_tree(options):
    """{name: {suboption tree}} of a documented option dict or an argument spec."""
    return {name: option_tree(value.get("suboptions") or value.get("options") or {})
            for name, value in (options or {}).items()}


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_parses_and_covers_every_option(module):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-doc"), "--json", module],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)[module]["doc"]
    assert option_tree(doc.get("options")) == option_tree(argument_spec(module))
