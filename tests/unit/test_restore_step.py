"""restore_step: a RedisRestore's next action from literal facts, step by step, with the
messages users read in status."""

import pytest
from ansible.module_utils.redisible_reasons import REASONS
from ansible.module_utils.redisible_restore_step import restore_step, restores_waiting_for

SOURCE = {"source_cr": "nightly", "source_found": True, "backup_name": "b-1",
          "storage_problem": "", "read_error": "", "problems": []}
CREATED = dict(SOURCE, target="RedisCluster c", target_exists=True, target_create=True,
               target_waits=True)
EXISTING = dict(SOURCE, target="Redis r", target_exists=True, target_create=False,
                target_waits=False)


def report(phase, reason, message):
    return {"action": "report", "phase": phase, "reason": reason, "message": message}


@pytest.mark.parametrize("facts, expected", [
    (dict(SOURCE, source_found=False),
     report("Pending", "RestoreBlocked", "RedisBackup nightly not found")),
    (dict(SOURCE, backup_name=""),
     report("Pending", "RestoreBlocked", "RedisBackup nightly has no completed backup yet")),
    (dict(SOURCE, storage_problem="bucket b not found"),
     report("Pending", "RestoreBlocked", "bucket b not found")),
    (dict(SOURCE, read_error="no manifest b-1/manifest.json"),
     report("Pending", "RestoreBlocked", "no manifest b-1/manifest.json")),
    (dict(SOURCE, problems=["shard 0: sha256 differs", "shard 1: missing"]),
     report("Failed", "BackupDamaged", "backup b-1 refused, nothing was touched: "
            "shard 0: sha256 differs; shard 1: missing")),
])
def test_the_source_blocks_or_refuses_before_the_target_is_touched(facts, expected):
    assert restore_step(facts) == expected
    # Whatever the target would say: the source's verdict comes first.
    assert restore_step(dict(facts, target="Redis r", target_exists=False,
                             target_waits=False)) == expected


def test_a_direct_source_needs_no_redisbackup():
    facts = dict(SOURCE, source_cr="", source_found=False)
    assert restore_step(facts) == {"action": "target"}


def test_a_usable_source_goes_to_the_target_then_waits_for_it():
    assert restore_step(SOURCE) == {"action": "target"}
    assert restore_step(EXISTING) == {"action": "wait_target"}
    assert restore_step(dict(EXISTING, target_ready=False)) == report(
        "Pending", "RestoreBlocked", "Redis r is not Ready yet")
    assert restore_step(dict(EXISTING, target_ready=True)) == {"action": "load"}


def test_a_missing_target_blocks_at_once_unless_the_restore_creates_it():
    missing = dict(EXISTING, target_exists=False)
    message = "Redis r not found (set target.create to create it from the backup)"
    assert restore_step(missing) == report("Pending", "RestoreBlocked", message)
    # Gone while the restore waited for it.
    assert restore_step(dict(missing, target_create=True, target_ready=False)) == report(
        "Pending", "RestoreBlocked", message)


def test_a_created_target_is_placed_into_then_waited_for():
    assert restore_step(CREATED) == {"action": "place"}
    placed = dict(CREATED, pods_waiting=6, pods_expected=6, placement_error="")
    assert restore_step(placed) == {"action": "wait_target"}
    assert restore_step(dict(placed, target_ready=True)) == {"action": "load"}


@pytest.mark.parametrize("waiting, expected", [(4, 6), (0, 0)])
def test_a_placement_short_of_pods_waits_for_them(waiting, expected):
    facts = dict(CREATED, pods_waiting=waiting, pods_expected=expected, placement_error="")
    assert restore_step(facts) == report(
        "Pending", "RestoreBlocked",
        "RedisCluster c: %d of %d pods are waiting for the restore yet" % (waiting, expected))


def test_a_failed_placement_is_final():
    facts = dict(CREATED, pods_waiting=6, pods_expected=6,
                 placement_error="shard 2: sha256 differs")
    assert restore_step(facts) == report(
        "Failed", "PlacementFailed", "shard 2: sha256 differs; RedisCluster c was created for "
        "this restore and its pods do not start: delete it")


def test_every_reason_it_reports_is_in_the_catalogue():
    cases = [dict(SOURCE, source_found=False), dict(SOURCE, problems=["x"]),
             dict(CREATED, pods_waiting=1, pods_expected=1, placement_error="x")]
    assert {restore_step(f)["reason"] for f in cases} <= set(REASONS)


def test_the_roles_reach_it_through_the_filter():
    from redis_harness import redisible_filters
    assert redisible_filters()["redisible_restore_step"](SOURCE) == {"action": "target"}


def test_a_finished_backup_wakes_only_the_unfinished_restores_that_name_it():
    def restore(name, source, phase=None):
        return {"metadata": {"name": name}, "spec": {"source": source},
                "status": {"phase": phase} if phase else {}}
    restores = [restore("new", {"redisBackup": "nightly"}),
                restore("pending", {"redisBackup": "nightly"}, "Pending"),
                restore("done", {"redisBackup": "nightly"}, "Completed"),
                restore("failed", {"redisBackup": "nightly"}, "Failed"),
                restore("other", {"redisBackup": "weekly"}),
                restore("direct", {"s3": {"bucket": "b"}, "backupName": "nightly"})]
    assert restores_waiting_for(restores, "nightly") == ["new", "pending"]
    from redis_harness import redisible_filters
    assert redisible_filters()["redisible_restores_waiting_for"](restores, "weekly") == ["other"]
