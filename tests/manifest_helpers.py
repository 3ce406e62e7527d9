"""Rendering a role's manifests and checking CRs against a CRD, shared by the manifest tests.

The roles render through real ansible-playbook runs; objects are validated against the OpenAPI
schema of a pinned Kubernetes release (kubernetes-validate), CRs against the generated CRD's
structural schema plus its CEL rules (cel-python).
"""

import copy
import json
import os
import subprocess
import sys

import celpy
import jsonschema
import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUBERNETES_VERSION = "1.33.0"
CRD_FILE = os.path.join(ROOT, "config", "crd", "bases", "redis.redisible.io_redisclusters.yaml")


def role_spec_defaults(role):
    """What a playbook run starts from: the shared defaults, then the mode role's own."""
    with open(os.path.join(ROOT, "roles", "common", "defaults", "main.yml")) as handle:
        defaults = copy.deepcopy(yaml.safe_load(handle)["redisible_common_spec_defaults"])
    with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as handle:
        defaults.update(yaml.safe_load(handle)["%s_spec_defaults" % role])
    return defaults


def load_sample(kind="rediscluster"):
    with open(os.path.join(ROOT, "config", "samples", "redis_v1alpha1_%s.yaml" % kind)) as h:
        return yaml.safe_load(h)


def render(cr, tmp_path, existing=None, role="rediscluster"):
    cr_file = tmp_path / "cr.json"
    out = tmp_path / "manifests.json"
    extra = dict(cr)
    if existing is not None:
        extra.update(existing)
    cr_file.write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
         os.path.join(ROOT, "tests", "playbooks", "render.yml"), "-e", "role=" + role,
         "-e", "@%s" % cr_file, "-e", "out=%s" % out],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def validate_k8s(manifest):
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError("%s/%s: %s" % (manifest["kind"], manifest["metadata"]["name"],
                                            exc.message))


def by_kind(manifests, kind):
    return [m for m in manifests if m["kind"] == kind]


def crd_schema(crd_file=CRD_FILE):
    with open(crd_file) as handle:
        crd = yaml.safe_load(handle)
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def cel_rules(schema, path=()):
    """(path, rule, message) for every x-kubernetes-validations entry."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule["rule"], rule["message"]
    for name, sub in schema.get("properties", {}).items():
        for found in cel_rules(sub, path + (name,)):
            yield found


def schema_errors(cr, crd_file=CRD_FILE):
    """Every message the API server would give for this CR (structural schema + CEL)."""
    schema = crd_schema(crd_file)
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(cr)]
    if errors:
        return errors  # like the API server: CEL rules run on well-typed objects only
    env = celpy.Environment()
    for path, rule, message in cel_rules(schema):
        value = cr
        for key in path:
            if not isinstance(value, dict) or key not in value:
                value = None
                break
            value = value[key]
        if value is None:
            continue
        program = env.program(env.compile(rule))
        if not bool(program.evaluate({"self": celpy.json_to_cel(value)})):
            errors.append(message)
    return errors




def default_mismatches(role, crd_file):
    """(field, role default, CRD default) wherever a playbook run and the API server would
    default a field differently."""
    defaults = role_spec_defaults(role)
    spec = crd_schema(crd_file)["properties"]["spec"]["properties"]
    found = []
    for field, schema in spec.items():
        if "default" in schema and schema["default"] != {} and \
                defaults.get(field) != schema["default"]:
            found.append((field, defaults.get(field), schema["default"]))
        for sub, sub_schema in schema.get("properties", {}).items():
            # Sub-defaults of an object without a default apply only when it is given.
            if "default" in sub_schema and "default" in schema and \
                    defaults.get(field, {}).get(sub) != sub_schema["default"]:
                found.append(("%s.%s" % (field, sub), defaults.get(field, {}).get(sub),
                              sub_schema["default"]))
    return found
