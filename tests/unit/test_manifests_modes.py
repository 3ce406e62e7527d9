"""Redis (standalone) and RedisSentinel: rendered manifests and CRD schemas, without a cluster."""

import copy
import json
import os
import subprocess

import pytest
import yaml
from ansible.module_utils.redisible_sentinel_state import PARKING_HOST, PARKING_PORT
from ansible.module_utils.redisible_spec import validate_spec
from manifest_helpers import (
    ROOT,
    by_kind,
    default_mismatches,
    load_sample,
    render,
    role_spec_defaults,
    schema_errors,
    validate_k8s,
)

CRDS = os.path.join(ROOT, "config", "crd", "bases")
SENTINEL_CRD = os.path.join(CRDS, "redis.redisible.io_redissentinels.yaml")
REDIS_CRD = os.path.join(CRDS, "redis.redisible.io_redis.yaml")

# Every test of this file on one worker (hack/test.sh runs --dist loadgroup): the
# rendered fixture is a series of ansible-playbook runs, which each worker would repeat. It
# is session-scoped: a worker interleaves other files' tests with these, and a module-scoped
# fixture would be torn down and rendered again at each switch (measured: 6 times a run).
pytestmark = pytest.mark.xdist_group("render-modes")


def sentinel_cases():
    sample = load_sample("redissentinel")
    required = copy.deepcopy(sample)
    required["spec"].update({
        "version": "7.0", "replicas": 5,
        "antiAffinity": {"policy": "required", "topologyKey": "kubernetes.io/hostname"},
        "sentinel": {"replicas": 5, "quorum": 3, "resources": {"limits": {"memory": "64Mi"}}},
        "service": {"type": "NodePort"}, "passwordSecret": {"name": "mine", "key": "pw"},
        "storage": {"size": "5Gi", "storageClassName": "fast", "reclaimPolicy": "Delete"},
    })
    minimal = {"apiVersion": sample["apiVersion"], "kind": "RedisSentinel",
               "metadata": {"name": "tiny", "namespace": "ns1"}, "spec": {}}
    return {"sample": sample, "required": required, "minimal": minimal}


def redis_cases():
    sample = load_sample("redis")
    minimal = {"apiVersion": sample["apiVersion"], "kind": "Redis",
               "metadata": {"name": "tiny", "namespace": "ns1"}, "spec": {}}
    restoring = copy.deepcopy(minimal)
    restoring["metadata"]["annotations"] = {"redis.redisible.io/created-by-restore": "r1",
                                            "redis.redisible.io/restore-placement": "r1"}
    restoring["spec"]["redisConfig"] = {"appendonly": "no", "dbfilename": '"data.rdb"'}
    return {"sample": sample, "minimal": minimal, "restoring": restoring}


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    result = {}
    for name, cr in sentinel_cases().items():
        result["sentinel-" + name] = render(cr, tmp_path_factory.mktemp(name),
                                            role="redissentinel")
    for name, cr in redis_cases().items():
        result["redis-" + name] = render(cr, tmp_path_factory.mktemp(name), role="redis")
    return result


CASES = ["sentinel-" + c for c in sorted(sentinel_cases())] + \
    ["redis-" + c for c in sorted(redis_cases())]


@pytest.mark.parametrize("case", CASES)
def test_every_rendered_manifest_is_valid_kubernetes(rendered, case):
    assert rendered[case]
    for manifest in rendered[case]:
        validate_k8s(manifest)


def named(manifests, kind, name):
    found = [m for m in by_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, [m["metadata"]["name"] for m in manifests])
    return found[0]


def test_sentinel_sample_renders_redis_pods_sentinels_services_and_budgets(rendered):
    manifests = rendered["sentinel-sample"]
    redis_set = named(manifests, "StatefulSet", "ha-redis")
    sentinel_set = named(manifests, "StatefulSet", "ha-sentinel")
    assert redis_set["spec"]["replicas"] == 3 and sentinel_set["spec"]["replicas"] == 3
    redis_labels = redis_set["spec"]["selector"]["matchLabels"]
    sentinel_labels = sentinel_set["spec"]["selector"]["matchLabels"]
    assert redis_labels["app.kubernetes.io/component"] == "redis"
    assert sentinel_labels["app.kubernetes.io/component"] == "sentinel"
    # Redis pods start parked and announce their IP; no cluster bus.
    container = redis_set["spec"]["template"]["spec"]["containers"][0]
    script = container["args"][0]
    assert "replica-announce-ip %s" in script
    assert "replicaof %s %d" % (PARKING_HOST, PARKING_PORT) in script
    assert [p["name"] for p in container["ports"]] == ["redis"]
    assert "master_link_status:up" in json.dumps(container["readinessProbe"])
    # Sentinels: empty config on an emptyDir, password, announce-ip, probe on the master name.
    sentinel = sentinel_set["spec"]["template"]["spec"]
    assert sentinel["volumes"] == [{"name": "data", "emptyDir": {}}]
    assert "volumeClaimTemplates" not in sentinel_set["spec"]
    script = sentinel["containers"][0]["args"][0]
    assert "sentinel announce-ip %s" in script and "requirepass" in script
    assert "--sentinel" in script
    assert "get-master-addr-by-name mymaster" in json.dumps(
        sentinel["containers"][0]["readinessProbe"])
    # Sentinels spread like the Redis pods.
    term = sentinel["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["labelSelector"]["matchLabels"] == sentinel_labels
    # Services: plain clients reach the labelled master, sentinel-aware ones the sentinels.
    assert named(manifests, "Service", "ha")["spec"]["selector"] == dict(
        redis_labels, **{"redis.redisible.io/role": "master"})
    assert named(manifests, "Service", "ha-sentinel")["spec"]["selector"] == sentinel_labels
    headless = named(manifests, "Service", "ha-headless")
    assert headless["spec"]["selector"] == redis_labels
    assert [p["name"] for p in headless["spec"]["ports"]] == ["redis"]
    assert {b["metadata"]["name"] for b in by_kind(manifests, "PodDisruptionBudget")} == {
        "ha-redis", "ha-sentinel"}
    config = by_kind(manifests, "ConfigMap")[0]["data"]["redis.conf"]
    assert "cluster-enabled" not in config and "requirepass" not in config


def test_sentinel_edge_case_required_placement_and_sentinel_resources(rendered):
    manifests = rendered["sentinel-required"]
    sentinel = named(manifests, "StatefulSet", "ha-sentinel")["spec"]["template"]["spec"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in sentinel["affinity"][
        "podAntiAffinity"]
    assert sentinel["containers"][0]["resources"] == {"limits": {"memory": "64Mi"}}
    assert named(manifests, "Service", "ha-sentinel")["spec"]["type"] == "NodePort"
    env = {e["name"]: e for e in sentinel["containers"][0]["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "mine", "key": "pw"}


def test_sentinel_scale_down_keeps_leaving_pods_until_the_converge_moved_the_master(tmp_path):
    cr = load_sample("redissentinel")
    cr["spec"]["replicas"] = 2
    manifests = render(cr, tmp_path, existing={"redissentinel_existing_replicas": 5},
                       role="redissentinel")
    assert named(manifests, "StatefulSet", "ha-redis")["spec"]["replicas"] == 5


def test_redis_sample_renders_one_pod_with_its_volume(rendered):
    manifests = rendered["redis-sample"]
    assert sorted(m["kind"] for m in manifests) == ["ConfigMap", "Service", "Service",
                                                    "StatefulSet"]
    statefulset = named(manifests, "StatefulSet", "cache")
    assert statefulset["spec"]["replicas"] == 1
    script = statefulset["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "replicaof" not in script and "announce" not in script
    config = by_kind(manifests, "ConfigMap")[0]["data"]["redis.conf"]
    assert "maxmemory 128mb" in config and "cluster-enabled" not in config
    minimal = named(rendered["redis-minimal"], "StatefulSet", "tiny")
    assert minimal["spec"]["template"]["spec"]["containers"][0]["image"].endswith("redis:7.0.15")


def test_parking_address_is_the_same_in_the_role_and_the_planner():
    with open(os.path.join(ROOT, "roles", "redissentinel", "vars", "main.yml")) as handle:
        parking = yaml.safe_load(handle)["redissentinel_parking"]
    assert parking == "%s %d" % (PARKING_HOST, PARKING_PORT)


# --- the CRDs -------------------------------------------------------------------------------

def test_samples_and_edge_cases_are_valid():
    for cr in sentinel_cases().values():
        assert schema_errors(cr, SENTINEL_CRD) == []
    for cr in redis_cases().values():
        assert schema_errors(cr, REDIS_CRD) == []


def test_role_defaults_match_crd_defaults():
    assert default_mismatches("redissentinel", SENTINEL_CRD) == []
    assert default_mismatches("redis", REDIS_CRD) == []


def test_the_three_kinds_share_one_definition_of_the_common_fields():
    specs = {}
    for name in ("redis", "redissentinels", "redisclusters"):
        with open(os.path.join(CRDS, "redis.redisible.io_%s.yaml" % name)) as handle:
            crd = yaml.safe_load(handle)
        specs[name] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
            "spec"]["properties"]
    for field in ("version", "image", "redisConfig", "passwordSecret", "resources", "storage",
                  "antiAffinity", "affinity", "nodeSelector", "tolerations", "service",
                  "paused"):
        assert specs["redis"][field] == specs["redissentinels"][field] == \
            specs["redisclusters"][field], field


SENTINEL_INVALID = [
    ("no Redis pod", {"replicas": 0}, "minimum"),
    ("eleven Redis pods", {"replicas": 11}, "maximum"),
    ("no sentinel", {"sentinel": {"replicas": 0}}, "minimum"),
    ("quorum above sentinels", {"sentinel": {"replicas": 3, "quorum": 4}},
     "quorum cannot be more than"),
    ("bad master name", {"sentinel": {"masterName": "my master"}}, "does not match"),
    ("tiny down-after", {"sentinel": {"downAfterMilliseconds": 10}}, "minimum"),
    ("owned replicaof", {"redisConfig": {"replicaof": "10.0.0.1 6379"}},
     "directives the operator owns"),
    ("owned replica-announce-ip", {"redisConfig": {"replica-announce-ip": "1.2.3.4"}},
     "directives the operator owns"),
    ("unknown version", {"version": "4.0"}, "is not one of"),
]


def sentinel_cr(change):
    cr = load_sample("redissentinel")
    for key, value in change.items():
        if key == "sentinel":
            cr["spec"]["sentinel"] = dict(cr["spec"]["sentinel"], **value)
        else:
            cr["spec"][key] = value
    return cr


@pytest.mark.parametrize("name,change,expected", SENTINEL_INVALID,
                         ids=[c[0] for c in SENTINEL_INVALID])
def test_invalid_sentinel_cr_is_rejected_with_a_readable_message(name, change, expected):
    errors = schema_errors(sentinel_cr(change), SENTINEL_CRD)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize("name,change,expected", SENTINEL_INVALID,
                         ids=[c[0] for c in SENTINEL_INVALID])
def test_the_sentinel_role_rejects_what_the_crd_rejects(name, change, expected):
    spec = role_spec_defaults("redissentinel")
    spec = dict(spec, **dict((k, v) for k, v in sentinel_cr(change)["spec"].items()
                             if k != "sentinel"))
    spec["sentinel"] = dict(role_spec_defaults("redissentinel")["sentinel"],
                            **sentinel_cr(change)["spec"]["sentinel"])
    assert validate_spec("RedisSentinel", "ha", spec), name


REDIS_INVALID = [
    ("owned port", {"redisConfig": {"port": "7000"}}, "directives the operator owns"),
    ("bad storage size", {"storage": {"size": "lots"}}, "does not match"),
    ("unknown field type", {"paused": "yes"}, "is not of type 'boolean'"),
]


@pytest.mark.parametrize("name,change,expected", REDIS_INVALID,
                         ids=[c[0] for c in REDIS_INVALID])
def test_invalid_redis_cr_is_rejected(name, change, expected):
    cr = load_sample("redis")
    cr["spec"].update(change)
    errors = schema_errors(cr, REDIS_CRD)
    assert any(expected in e for e in errors), errors


LEAKY_LOG_LINE = "1:X # +set master mymaster 10.1.2.4 6379 auth-pass pw-Abc123456"


def run_start_script(script, tmp_path):
    """Run a rendered container start script against a temp dir, with the server replaced by a
    process that prints what a 5.0 sentinel logs on SENTINEL SET auth-pass. Returns the files
    it wrote and what reached the container log (stdout)."""
    body = script.replace("/run/redis", str(tmp_path)).replace("/data/", str(tmp_path) + "/")
    lines = [("exec printf '%s\\n'" % LEAKY_LOG_LINE) + line[line.index(" >"):]
             if line.startswith("exec ") and " >" in line else
             ("exec printf '%s\\n'" % LEAKY_LOG_LINE) if line.startswith("exec ") else line
             for line in body.splitlines()]
    env = {"PATH": os.environ["PATH"], "REDIS_PASSWORD": "pw-Abc123456", "POD_IP": "10.1.2.3"}
    done = subprocess.run(["sh", "-c", "\n".join(lines)], env=env, check=True, timeout=10,
                          capture_output=True, text=True)
    files = dict((p.name, p.read_text()) for p in tmp_path.iterdir() if p.is_file())
    return files, done.stdout


@pytest.mark.parametrize("case,name,expected", [
    ("redis-sample", "cache", 'requirepass "pw-Abc123456"\nmasterauth "pw-Abc123456"\n'),
    ("sentinel-sample", "ha-redis",
     'requirepass "pw-Abc123456"\nmasterauth "pw-Abc123456"\n'
     'replica-announce-ip 10.1.2.3\nreplicaof 127.0.0.1 1\n'),
    ("sentinel-sample", "ha-sentinel",
     'port 26379\nbind 0.0.0.0\nprotected-mode no\ndir /data\nrequirepass "pw-Abc123456"\n'
     'sentinel announce-ip 10.1.2.3\n'),
])
def test_start_scripts_write_exactly_the_runtime_config(rendered, tmp_path, case, name,
                                                        expected):
    """The scripts run in the containers: the password and the pod IP land where they
    belong (a stray argument once made printf repeat its format and override requirepass)."""
    statefulset = named(rendered[case], "StatefulSet", name)
    script = statefulset["spec"]["template"]["spec"]["containers"][0]["args"][0]
    written, log = run_start_script(script, tmp_path)
    assert list(written.values()) == [expected]
    if name == "ha-sentinel":
        assert log == LEAKY_LOG_LINE.replace("pw-Abc123456", "******") + "\n"


def test_the_status_writer_addresses_each_crd_by_its_real_plural():
    from ansible.module_utils.redisible_k8s_client import resource_coordinates
    for name in ("redis", "redissentinels", "redisclusters"):
        with open(os.path.join(CRDS, "redis.redisible.io_%s.yaml" % name)) as handle:
            crd = yaml.safe_load(handle)
        kind = crd["spec"]["names"]["kind"]
        assert resource_coordinates("redis.redisible.io/v1alpha1", kind) == (
            "redis.redisible.io", "v1alpha1", crd["spec"]["names"]["plural"])


def test_a_restored_standalone_without_aof_gets_its_file_as_the_rdb(rendered):
    statefulset = by_kind(rendered["redis-restoring"], "StatefulSet")[0]
    init = statefulset["spec"]["template"]["spec"]["initContainers"][0]
    assert init["name"] == "restore-wait" and init["command"][-1] == "data.rdb"
