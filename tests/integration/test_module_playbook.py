"""The redis_cluster_converge module as users run it: ansible-playbook, check mode, changed."""

import json
import os
import subprocess
import sys

import pytest
from redis_harness import (
    PASSWORD,
    ClusterPods,
    cluster_check,
    load_keys,
    versions,
    wait_flagged_failed,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "playbooks", "converge_local.yml")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(params=versions())
def pods(request):
    cluster = ClusterPods(request.param)
    yield cluster
    cluster.cleanup()


def playbook(pods, shards, replicas, tmp_path, *flags):
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"redis_pods": pods.specs(), "redis_shards": shards,
                                 "redis_replicas_per_shard": replicas,
                                 "redis_password": PASSWORD}))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), PLAYBOOK,
         "-e", "@%s" % extra] + list(flags),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert PASSWORD not in proc.stdout + proc.stderr, "the password leaked into the output"
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    task = report["plays"][0]["tasks"][0]
    assert task["task"]["name"] == "Converge the cluster"
    return proc.returncode, task["hosts"]["localhost"], report


def test_playbook_check_then_apply_then_idempotent(pods, tmp_path):
    pods.ensure(3, 1)
    code, result, _ = playbook(pods, 3, 1, tmp_path, "--check")
    assert code == 0 and result["changed"] is True
    assert all(b"cluster_known_nodes:1" in p.client().execute_command("CLUSTER", "INFO")
               for p in pods.pods.values()), "check mode changed the cluster"

    code, result, _ = playbook(pods, 3, 1, tmp_path)
    assert code == 0 and result["changed"] is True
    assert cluster_check(pods.any())[0]

    code, result, _ = playbook(pods, 3, 1, tmp_path)
    assert code == 0 and result["changed"] is False


def test_playbook_failure_says_why_without_the_password(pods, tmp_path):
    pods.ensure(3, 0)
    pods.pods[(1, 0)].stop()
    code, _, report = playbook(pods, 3, 0, tmp_path)
    assert code != 0
    failed = report["plays"][0]["tasks"][1]["hosts"]["localhost"]
    assert "not reachable" in failed["msg"] and "c-shard-1-0" in failed["msg"]


def test_playbook_stops_on_a_lost_shard_instead_of_covering_it_empty(pods, tmp_path):
    """The first report of the issue: shard 2 loses its volume (no replica); the playbook
    used to return 0 with its slots given to the empty node."""
    pods.ensure(3, 0)
    assert playbook(pods, 3, 0, tmp_path)[0] == 0
    load_keys(pods.cluster_client(), 3000)
    lost = pods.pods[(2, 0)]
    old_id = lost.node_id()
    lost.lose_volume()
    wait_flagged_failed(pods, old_id)
    code, _, report = playbook(pods, 3, 0, tmp_path)
    assert code != 0
    failed = [t for t in report["plays"][0]["tasks"]
              if t["hosts"]["localhost"].get("failed")]
    assert "ShardDataLost" in failed[0]["hosts"]["localhost"]["msg"]
    assert old_id in failed[0]["hosts"]["localhost"]["msg"]
    assert lost.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", 16000) == 0
