"""RedisBackup / RedisRestore: CRD schemas, samples, role defaults, the loader pod template."""

import glob
import os

import pytest
import yaml
from manifest_helpers import ROOT, crd_schema, load_sample, schema_errors

CRDS = os.path.join(ROOT, "config", "crd", "bases")
CRD_OF = {"RedisBackup": "redisbackups", "RedisRestore": "redisrestores",
          "Redis": "redis", "RedisSentinel": "redissentinels", "RedisCluster": "redisclusters"}


def crd_file(kind):
    return os.path.join(CRDS, "redis.redisible.io_%s.yaml" % CRD_OF[kind])


def backup(**spec):
    base = {"instance": {"kind": "RedisCluster", "name": "demo"},
            "storage": {"s3": {"bucket": "backups", "credentialsSecret": {"name": "s3"}}}}
    base.update(spec)
    return {"apiVersion": "redis.redisible.io/v1alpha1", "kind": "RedisBackup",
            "metadata": {"name": "b"}, "spec": base}


def restore(source, target=None):
    return {"apiVersion": "redis.redisible.io/v1alpha1", "kind": "RedisRestore",
            "metadata": {"name": "r"},
            "spec": {"source": source, "target": target or {"kind": "Redis", "name": "x"}}}


def documents():
    files = sorted(glob.glob(os.path.join(ROOT, "config", "samples", "backup-restore", "*.yaml")))
    for path in files:
        with open(path) as handle:
            for document in yaml.safe_load_all(handle):
                yield os.path.basename(path), document


def test_every_backup_restore_sample_is_valid_and_each_mode_has_one():
    kinds = {}
    for name, document in documents():
        kinds.setdefault(name, []).append(document["kind"])
        if document["kind"] in CRD_OF:
            assert schema_errors(document, crd_file(document["kind"])) == [], (name, document)
    assert sorted(kinds) == ["redis.yaml", "rediscluster.yaml", "redissentinel.yaml"]
    for name, found in kinds.items():
        assert found[-2:] == ["RedisBackup", "RedisRestore"], name
    for kind in ("redisbackup", "redisbackup_pvc", "redisrestore"):
        sample = load_sample(kind)
        assert schema_errors(sample, crd_file(sample["kind"])) == []


def test_restore_samples_restore_what_their_backup_took():
    for _name, document in documents():
        if document["kind"] == "RedisBackup":
            backed_up = document
        if document["kind"] == "RedisRestore":
            assert document["spec"]["source"]["redisBackup"] == backed_up["metadata"]["name"]
            assert document["spec"]["target"]["kind"] == backed_up["spec"]["instance"]["kind"]


@pytest.mark.parametrize("spec, message", [
    ({"schedule": "every night"}, "does not match"),
    ({"retention": {"keepLast": 0}}, "less than the minimum"),
    ({"deletePolicy": "Purge"}, "is not one of"),
    ({"instance": {"kind": "Memcached", "name": "x"}}, "is not one of"),
    ({"storage": {"s3": {"bucket": "b"}}}, "'credentialsSecret' is a required property"),
    ({"storage": {"s3": {"bucket": "b", "credentialsSecret": {"name": "s"},
                         "endpoint": "minio:9000"}}}, "does not match"),
    ({"storage": {}}, "exactly one of s3 and pvc"),
    ({"storage": {"pvc": {"claimName": "c"},
                  "s3": {"bucket": "bkt", "credentialsSecret": {"name": "s"}}}},
     "exactly one of s3 and pvc"),
    ({"storage": {"pvc": {"size": "1Gi"}}}, "'claimName' is a required property"),
    ({"storage": {"pvc": {"claimName": "c", "size": "lots"}}}, "does not match"),
])
def test_invalid_backups_are_rejected(spec, message):
    errors = schema_errors(backup(**spec), crd_file("RedisBackup"))
    assert any(message in e for e in errors), errors


def test_a_pvc_destination_is_accepted_existing_or_to_create():
    for pvc in ({"claimName": "backups"},
                {"claimName": "backups", "size": "20Gi", "storageClassName": "fast",
                 "path": "redis/nightly"}):
        assert schema_errors(backup(storage={"pvc": pvc}), crd_file("RedisBackup")) == []


def test_valid_schedules_pass():
    for schedule in ("0 2 * * *", "*/15 * * * *", "@daily", "30 1 1,15 * mon-fri"):
        assert schema_errors(backup(schedule=schedule), crd_file("RedisBackup")) == []


@pytest.mark.parametrize("source, message", [
    ({"redisBackup": "b", "s3": {"bucket": "bkt", "credentialsSecret": {"name": "s"}},
      "backupName": "x"}, "exactly one of redisBackup, s3 and pvc"),
    ({"pvc": {"claimName": "c"}, "s3": {"bucket": "bkt", "credentialsSecret": {"name": "s"}},
      "backupName": "x"}, "exactly one of redisBackup, s3 and pvc"),
    ({}, "exactly one of redisBackup, s3 and pvc"),
    ({"pvc": {"claimName": "c"}}, "needs backupName"),
    ({"s3": {"bucket": "bkt", "credentialsSecret": {"name": "s"}}}, "needs backupName"),
])
def test_invalid_restore_sources_are_rejected(source, message):
    errors = schema_errors(restore(source), crd_file("RedisRestore"))
    assert any(message in e for e in errors), errors


def test_restore_by_location_is_accepted():
    source = {"s3": {"bucket": "bkt", "credentialsSecret": {"name": "s"}}, "backupName": "n"}
    assert schema_errors(restore(source), crd_file("RedisRestore")) == []
    source = {"pvc": {"claimName": "backups", "path": "redis"}, "backupName": "n"}
    assert schema_errors(restore(source), crd_file("RedisRestore")) == []


def test_role_defaults_match_the_crd_defaults():
    for role, kind in (("redisbackup", "RedisBackup"), ("redisrestore", "RedisRestore")):
        with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as handle:
            defaults = yaml.safe_load(handle)["%s_spec_defaults" % role]
        spec = crd_schema(crd_file(kind))["properties"]["spec"]["properties"]
        for field, schema in spec.items():
            if "default" in schema:
                assert defaults.get(field) == schema["default"], (role, field)


def test_watches_and_rbac_cover_the_new_kinds():
    with open(os.path.join(ROOT, "watches.yaml")) as handle:
        watches = {w["kind"]: w for w in yaml.safe_load(handle)}
    assert watches["RedisBackup"]["role"] == "redisbackup"
    assert watches["RedisBackup"]["finalizer"]["vars"] == {"state": "absent"}
    assert watches["RedisRestore"]["role"] == "redisrestore"
    with open(os.path.join(ROOT, "config", "rbac", "role.yaml")) as handle:
        rules = yaml.safe_load(handle)["rules"]
    resources = {r for rule in rules for r in rule["resources"]}
    assert {"redisbackups/status", "redisrestores/status", "redisbackups/finalizers",
            "pods/exec"} <= resources
