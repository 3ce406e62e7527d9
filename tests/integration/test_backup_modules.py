"""The backup modules as users run them: ansible-playbook, check mode, exact changed, no
secret in the output."""

import json
import os
import subprocess
import sys

import pytest
import yaml
from redis_harness import PASSWORD, RedisProcess, versions
from s3_harness import MotoServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def servers():
    version = versions()[-1]
    procs = [RedisProcess(version, cluster=False).start() for _ in range(2)]
    yield procs
    for proc in procs:
        proc.cleanup()


def run(tasks, tmp_path, *flags):
    """Runs the tasks on localhost; returns (exit code, [result per task])."""
    book = tmp_path / "play.yml"
    book.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local",
                                     "gather_facts": False, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(book)]
        + list(flags), cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    output = proc.stdout + proc.stderr
    assert PASSWORD not in output and MotoServer.SECRET_KEY not in output, "a secret leaked"
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    return proc.returncode, [t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]]


def pods(proc):
    return [{"name": "r-0", "host": proc.host, "port": proc.port}]


def test_backup_restore_prune_delete_with_exact_changed(servers, moto, tmp_path):
    source, target = servers
    source.client().mset({"a": "1", "b": "2"})
    target.client().set("keep", "me")
    storage = moto.storage(moto.new_bucket())
    backup = {"redis_backup": {"name": "b-202611280200", "kind": "Redis", "instance": "src",
                               "pods": pods(source), "password": PASSWORD,
                               "storage": storage}}
    restore = {"redis_restore": {"name": "b-202611280200", "kind": "Redis",
                                 "pods": pods(target), "password": PASSWORD,
                                 "storage": storage}}

    code, results = run([backup, restore], tmp_path, "--check")
    assert code != 0  # the restore has nothing to restore yet: refused, named
    assert results[0]["changed"] is True and results[0]["sources"][0]["source"]["name"] == "r-0"
    assert "no backup named b-202611280200" in results[1]["msg"]
    assert target.client().get("keep") == b"me"

    code, results = run([backup, backup, {"redis_backup_info": {"storage": storage}}], tmp_path)
    assert code == 0, json.dumps(results)[:3000]
    assert results[0]["changed"] is True and results[0]["manifest"]["keys"] == 2
    assert results[1]["changed"] is False  # it exists: nothing to do
    assert results[2]["backups"] == ["b-202611280200"]

    code, results = run([restore], tmp_path, "--check")
    assert code == 0 and results[0]["changed"] is True and results[0]["method"] == "replication"
    assert target.client().get("keep") == b"me" and target.client().get("a") is None

    code, results = run([restore], tmp_path)
    assert code == 0 and results[0]["keys"] == 2
    assert target.client().get("a") == b"1" and target.client().get("keep") is None

    newer = dict(backup["redis_backup"], name="b-202611290200")
    prune = {"redis_backup_prune": {"name_prefix": "b-", "keep_last": 1, "storage": storage}}
    code, results = run([prune, {"redis_backup": newer}, prune, prune], tmp_path)
    assert code == 0
    assert results[0]["changed"] is False  # one backup: the newest is always kept
    assert results[2]["changed"] is True and results[2]["pruned"] == ["b-202611280200"]
    assert results[3]["changed"] is False and results[3]["kept"] == ["b-202611290200"]

    absent = {"redis_backup": {"name": "b-202611290200", "state": "absent", "storage": storage}}
    code, results = run([absent], tmp_path, "--check")
    assert results[0]["changed"] is True
    code, results = run([absent, absent, {"redis_backup_info": {"storage": storage}}], tmp_path)
    assert [r["changed"] for r in results[:2]] == [True, False]
    assert results[2]["backups"] == []
