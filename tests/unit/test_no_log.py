"""The no_log convention, checked over every task of the roles, playbooks and molecule
scenario: a task whose arguments carry a secret (a password, S3 keys, the storage option that
holds them, a Secret's data) or that reads a Secret sets ``no_log: true``, written as the
literal true. A switch such as AWX's ``no_log: "{{ no_log }}"`` is not used on purpose: a
CR's spec fields reach the roles as variables, and no spec may turn the masking off."""

import glob
import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TASK_FILES = sorted(
    glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))
    + glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))
    + glob.glob(os.path.join(ROOT, "molecule", "*", "*.yml"))
    + glob.glob(os.path.join(ROOT, "molecule", "*", "tasks", "*.yml")))

# What carries a secret: our secret-bearing facts (a Secret's *name*, redisible_password_secret,
# is not one), argument names that take one, Secret data.
SECRET = re.compile(
    r"redisible_password\b|redisible_instance_password|redisible_storage\b|(?<!password)_secret\b"
    r"|redisible_secret|\bsecret_key\b|\baccess_key\b|\bpassword:|\bstringData\b"
    r"|\.data\b|b64decode|lookup\('ansible\.builtin\.password'")
# Not module arguments: what a task is called and when it runs say nothing secret.
NOT_ARGUMENTS = ("name", "when", "no_log", "loop_control", "register", "tags", "until",
                 "retries", "delay", "changed_when", "failed_when", "block", "rescue",
                 "always", "vars")
BLOCK_KEYS = ("block", "rescue", "always")


def tasks_in(items, where):
    for task in items or []:
        if not isinstance(task, dict):
            continue
        if "hosts" in task:  # a play
            for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                yield from tasks_in(task.get(key), where)
            continue
        yield where, task
        for key in BLOCK_KEYS:
            yield from tasks_in(task.get(key), where)


def all_tasks():
    for path in TASK_FILES:
        with open(path) as handle:
            document = yaml.safe_load(handle)
        if isinstance(document, list):
            yield from tasks_in(document, os.path.relpath(path, ROOT))


def carries_secret(task):
    arguments = {k: v for k, v in task.items() if k not in NOT_ARGUMENTS}
    text = yaml.safe_dump(arguments)
    reads_secret = re.search(r"\bkind: Secret\b", text) is not None
    return reads_secret or SECRET.search(text) is not None


def test_every_task_that_carries_a_secret_sets_no_log():
    offenders = ["%s: %s" % (where, task.get("name", "<unnamed>"))
                 for where, task in all_tasks()
                 if carries_secret(task) and task.get("no_log") is not True
                 and not any(key in task for key in BLOCK_KEYS)]
    assert not offenders, "no_log: true missing on:\n" + "\n".join(offenders)


def test_the_check_sees_the_tasks_it_must_judge():
    """A check that finds nothing to judge cannot fail: the known secret tasks are seen."""
    judged = {task.get("name") for _, task in all_tasks() if carries_secret(task)}
    assert {"Read the password Secret", "Converge the live cluster",
            "Stream every shard to the storage", "Build the storage option"} <= judged
