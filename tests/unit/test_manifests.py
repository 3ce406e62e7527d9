"""RedisCluster: rendered manifests and the CRD schema, without a cluster."""

import copy
import json
import os
import sys

import pytest
from ansible.module_utils.redisible_spec import OWNED_DIRECTIVES, validate_spec
from manifest_helpers import (
    CRD_FILE,
    ROOT,
    by_kind,
    default_mismatches,
    load_sample,
    render,
    role_spec_defaults,
    schema_errors,
    validate_k8s,
)

sys.path.insert(0, os.path.join(ROOT, "hack"))

import gen_crds  # noqa: E402

# Every test of this file on one worker (hack/test.sh runs --dist loadgroup): the
# rendered fixture is a series of ansible-playbook runs, which each worker would repeat. It
# is session-scoped: a worker interleaves other files' tests with these, and a module-scoped
# fixture would be torn down and rendered again at each switch (measured: 6 times a run).
pytestmark = pytest.mark.xdist_group("render-rediscluster")


def edge_cases():
    sample = load_sample()
    required = copy.deepcopy(sample)
    required["spec"].update({
        "shards": 5, "replicasPerShard": 0, "version": "7.0",
        "antiAffinity": {"policy": "required", "topologyKey": "topology.kubernetes.io/zone"},
        "storage": {"size": "20Gi", "storageClassName": "fast", "reclaimPolicy": "Delete"},
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "redis",
                         "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
        "service": {"type": "LoadBalancer", "annotations": {"example.com/lb": "internal"}},
        "passwordSecret": {"name": "my-secret", "key": "pw"},
    })
    minimal = {"apiVersion": sample["apiVersion"], "kind": "RedisCluster",
               "metadata": {"name": "tiny", "namespace": "ns1"}, "spec": {}}
    restoring = copy.deepcopy(sample)
    restoring["metadata"]["annotations"] = {"redis.redisible.io/created-by-restore": "r1",
                                            "redis.redisible.io/restore-placement": "r1"}
    restored = copy.deepcopy(restoring)
    del restored["metadata"]["annotations"]["redis.redisible.io/restore-placement"]
    return {"sample": sample, "required": required, "minimal": minimal,
            "restoring": restoring, "restored": restored}


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    result = {}
    for name, cr in edge_cases().items():
        result[name] = render(cr, tmp_path_factory.mktemp(name))
    return result


@pytest.mark.parametrize("case", sorted(edge_cases()))
def test_every_rendered_manifest_is_valid_kubernetes(rendered, case):
    manifests = rendered[case]
    assert manifests
    for manifest in manifests:
        validate_k8s(manifest)


def test_an_instance_created_by_a_restore_waits_only_while_the_restore_places(rendered):
    sets = by_kind(rendered["restoring"], "StatefulSet")
    for statefulset in sets:
        init = statefulset["spec"]["template"]["spec"]["initContainers"]
        assert [c["name"] for c in init] == ["restore-wait"]
        assert init[0]["command"] == ["sh", "/etc/redis/restore-wait.sh", "/data",
                                      "/etc/redis/restore-pending", "appendonly.aof"]
        assert {m["name"] for m in init[0]["volumeMounts"]} == {"data", "config"}
    config = by_kind(rendered["restoring"], "ConfigMap")[0]["data"]
    assert config["restore-pending"] == "r1" and "{{" not in config["restore-wait.sh"]
    assert ".redisible-restore-done" in config["restore-wait.sh"]
    # Once placed, the flag goes and nothing else changes: no pod restarts.
    assert "restore-pending" not in by_kind(rendered["restored"], "ConfigMap")[0]["data"]
    assert by_kind(rendered["restored"], "StatefulSet") == sets
    # An instance no restore created has neither.
    assert "restore-wait.sh" not in by_kind(rendered["sample"], "ConfigMap")[0]["data"]
    assert all("initContainers" not in s["spec"]["template"]["spec"]
               for s in by_kind(rendered["sample"], "StatefulSet"))


def test_sample_renders_one_statefulset_and_budget_per_shard(rendered):
    manifests = rendered["sample"]
    statefulsets = by_kind(manifests, "StatefulSet")
    assert [s["metadata"]["name"] for s in statefulsets] == [
        "demo-shard-0", "demo-shard-1", "demo-shard-2"]
    assert all(s["spec"]["replicas"] == 2 for s in statefulsets)
    assert all(s["spec"]["podManagementPolicy"] == "Parallel" for s in statefulsets)
    assert len(by_kind(manifests, "PodDisruptionBudget")) == 3
    pod = statefulsets[0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "docker.io/library/redis:5.0.6"
    anti = pod["affinity"]["podAntiAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" in anti
    term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["labelSelector"]["matchLabels"]["redis.redisible.io/shard"] == "0"
    env = {e["name"]: e for e in container["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "demo-password",
                                                                  "key": "password"}
    assert "PONG" in json.dumps(container["livenessProbe"])
    assert "cluster_state:ok" in json.dumps(container["readinessProbe"])


def test_config_has_user_directives_and_owned_ones_last_and_no_secret(rendered):
    config = by_kind(rendered["sample"], "ConfigMap")[0]["data"]["redis.conf"]
    lines = [line for line in config.splitlines() if line and not line.startswith("#")]
    assert "maxmemory 256mb" in lines and "maxmemory-policy allkeys-lru" in lines
    assert "cluster-enabled yes" in lines and "cluster-migration-barrier 999" in lines
    assert lines[-1] == "include /run/redis/runtime.conf"
    assert lines.index("maxmemory-policy allkeys-lru") < lines.index("cluster-enabled yes")
    assert "requirepass" not in config and "masterauth" not in config
    # 5.0 has no cluster-allow-replica-migration; writing it would stop the server.
    assert "cluster-allow-replica-migration" not in config
    config70 = by_kind(rendered["required"], "ConfigMap")[0]["data"]["redis.conf"]
    assert "cluster-allow-replica-migration no" in config70


def test_edge_case_placement_storage_and_service(rendered):
    manifests = rendered["required"]
    statefulsets = by_kind(manifests, "StatefulSet")
    assert len(statefulsets) == 5 and all(s["spec"]["replicas"] == 1 for s in statefulsets)
    pod = statefulsets[0]["spec"]["template"]["spec"]
    required = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required[0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert "nodeAffinity" in pod["affinity"]
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    claim = statefulsets[0]["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "fast"
    assert claim["resources"]["requests"]["storage"] == "20Gi"
    client = [s for s in by_kind(manifests, "Service") if s["spec"].get("clusterIP") != "None"]
    assert client[0]["spec"]["type"] == "LoadBalancer"
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "my-secret",
                                                                  "key": "pw"}


def test_scale_down_keeps_leaving_pods_until_the_converge_empties_them(tmp_path):
    cr = load_sample()
    cr["spec"].update({"shards": 3, "replicasPerShard": 0})
    existing = {"rediscluster_existing_groups": {0: 2, 1: 2, 2: 2, 3: 2, 4: 2}}
    manifests = render(cr, tmp_path, existing=existing)
    statefulsets = {s["metadata"]["name"]: s["spec"]["replicas"]
                    for s in by_kind(manifests, "StatefulSet")}
    assert statefulsets == {"demo-shard-%d" % i: 2 for i in range(5)}


def test_defaults_apply_to_a_minimal_cr(rendered):
    statefulsets = by_kind(rendered["minimal"], "StatefulSet")
    assert len(statefulsets) == 3
    assert statefulsets[0]["metadata"]["namespace"] == "ns1"
    assert statefulsets[0]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        "redis:7.0.15")


# --- the CRD --------------------------------------------------------------------------------

def test_committed_crds_match_the_generator():
    for name, document in gen_crds.all_crds().items():
        with open(os.path.join(ROOT, "config", "crd", "bases", name)) as handle:
            assert handle.read() == "---\n" + gen_crds.render(document), \
                "run `make crds` and commit the result"


def test_samples_are_valid_against_the_crd():
    assert schema_errors(load_sample()) == []
    for cr in edge_cases().values():
        assert schema_errors(cr) == []


def test_role_defaults_match_crd_defaults():
    assert default_mismatches("rediscluster", CRD_FILE) == []


INVALID = [
    ("two shards", {"shards": 2}, "minimum"),
    ("too many shards", {"shards": 101}, "maximum"),
    ("negative replicas", {"replicasPerShard": -1}, "minimum"),
    ("six replicas", {"replicasPerShard": 6}, "maximum"),
    ("unknown version", {"version": "4.0"}, "is not one of"),
    ("owned port", {"redisConfig": {"port": "7000"}}, "directives the operator owns"),
    ("owned requirepass", {"redisConfig": {"requirepass": "x"}}, "directives the operator owns"),
    ("owned cluster-enabled", {"redisConfig": {"cluster-enabled": "no"}},
     "directives the operator owns"),
    ("numeric config value", {"redisConfig": {"maxmemory": 100}}, "is not of type 'string'"),
    ("multi-line config value", {"redisConfig": {"maxmemory": "1mb\nrequirepass x"}},
     "single line"),
    ("upper-case directive", {"redisConfig": {"MaxMemory": "1mb"}}, "lower-case"),
    ("bad storage size", {"storage": {"size": "lots"}}, "does not match"),
    ("bad reclaim policy", {"storage": {"reclaimPolicy": "Recycle"}}, "is not one of"),
    ("bad anti-affinity", {"antiAffinity": {"policy": "always"}}, "is not one of"),
    ("password secret without name", {"passwordSecret": {"key": "pw"}}, "'name' is a required"),
    ("shards as string", {"shards": "3"}, "is not of type 'integer'"),
]


@pytest.mark.parametrize("name,change,expected", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_cr_is_rejected_with_a_readable_message(name, change, expected):
    cr = load_sample()
    cr["spec"].update(change)
    errors = schema_errors(cr)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize("name,change,expected", INVALID, ids=[c[0] for c in INVALID])
def test_the_role_rejects_what_the_crd_rejects(name, change, expected):
    """Playbook users have no API server: the role's own validation must agree."""
    spec = role_spec_defaults("rediscluster")
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict) and key != "redisConfig":
            spec[key] = dict(spec[key], **value)
        else:
            spec[key] = value
    assert validate_spec("RedisCluster", "demo", spec), name


def test_every_owned_directive_is_rejected():
    for directive in OWNED_DIRECTIVES:
        cr = load_sample()
        cr["spec"]["redisConfig"] = {directive: "x"}
        assert schema_errors(cr), directive
