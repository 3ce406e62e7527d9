"""The status vocabulary: one table turns an outcome into the three conditions, every reason
the roles report is in the catalogue, and a Degraded outcome becomes one Warning Event."""

import os
import re

import pytest
from ansible.module_utils.redisible_k8s_status import EVENT_MESSAGE_LIMIT, warning_event
from ansible.module_utils.redisible_reasons import (
    PROBLEMS,
    REASONS,
    STATES,
    condition_triple,
    warning_of,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def statuses(conditions):
    return tuple(c["status"] for c in conditions)


def test_each_state_sets_the_three_conditions_from_the_table():
    assert statuses(condition_triple("ClusterOK", "3 shards")) == ("True", "False", "False")
    assert statuses(condition_triple("Converging", "2 changes")) == ("False", "True", "False")
    assert statuses(condition_triple("Unschedulable", "no node")) == ("False", "True", "True")
    assert statuses(condition_triple("ConvergeFailed", "boom")) == ("False", "False", "True")
    assert statuses(condition_triple("Paused", "paused")) == ("Unknown", "False", "False")
    for reason, (state, meaning) in REASONS.items():
        assert state in STATES and meaning, reason


def test_the_message_goes_to_ready_and_to_the_conditions_the_state_sets():
    ready, progressing, degraded = condition_triple("ConvergeFailed", "pod gone")
    assert [c["type"] for c in (ready, progressing, degraded)] == ["Ready", "Progressing",
                                                                 "Degraded"]
    assert {c["reason"] for c in (ready, progressing, degraded)} == {"ConvergeFailed"}
    assert (ready["message"], progressing["message"], degraded["message"]) == (
        "pod gone", "", "pod gone")


def test_a_problem_degrades_a_ready_outcome_without_taking_ready_away():
    conditions = condition_triple("ClusterOK", "3 shards", {"reason": "PlacementConflict",
                                                            "message": "c-0-1 on node-a"})
    assert statuses(conditions) == ("True", "False", "True")
    assert conditions[2]["reason"] == "PlacementConflict"
    assert warning_of(conditions) == ("PlacementConflict", "c-0-1 on node-a")
    assert warning_of(condition_triple("ClusterOK", "3 shards")) is None


def test_unknown_reasons_are_refused():
    with pytest.raises(ValueError, match="ClusterFine"):
        condition_triple("ClusterFine", "")
    with pytest.raises(ValueError, match="Oops"):
        condition_triple("ClusterOK", "", {"reason": "Oops"})


def role_reasons():
    """Every literal reason the roles write (reason: X, 'reason': 'X', Backup/Restore~phase)."""
    found = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "roles")):
        for name in files:
            if name.endswith(".yml"):
                with open(os.path.join(folder, name)) as handle:
                    text = handle.read()
                found.update(re.findall(r"\breason: ([A-Z][A-Za-z]+)", text))
                found.update(re.findall(r"'reason': '([A-Z][A-Za-z]+)'", text))
                found.update(re.findall(r"(?:redisbackup|redisrestore)_reason: ([A-Z][A-Za-z]+)",
                                        text))
                # Chosen in an expression on a reason's line: 'A' if ... else 'B'.
                for line in text.splitlines():
                    if "reason" in line:
                        found.update(re.findall(r"'([A-Z][A-Za-z]+)' if ", line))
                        found.update(re.findall(r" else '([A-Z][A-Za-z]+)'", line))
    return found


def test_every_reason_the_roles_report_is_in_the_catalogue():
    reasons = role_reasons()
    assert {"InvalidSpec", "ConvergeFailed", "Unschedulable", "InstanceNotReady",
            "ClusterOK", "PlacementConflict"} <= reasons
    phases = {"Backup" + p for p in ("Pending", "Running", "Completed", "Failed")} | {
        "Restore" + p for p in ("Pending", "Running", "Completed", "Failed")}
    assert not (reasons | phases) - set(REASONS) - set(PROBLEMS) - {"RestoreReplacesData"}


def test_a_warning_event_is_named_by_resource_and_reason_and_bounded():
    resource = {"apiVersion": "redis.redisible.io/v1alpha1", "kind": "RedisCluster",
                "metadata": {"name": "demo", "namespace": "ns", "uid": "u-1"}}
    event = warning_event(resource, "ConvergeFailed", "x" * 5000, "2026-12-01T00:00:00Z")
    assert event["metadata"] == {"name": "demo.convergefailed", "namespace": "ns"}
    assert event["involvedObject"]["uid"] == "u-1" and event["type"] == "Warning"
    assert len(event["message"]) == EVENT_MESSAGE_LIMIT and event["count"] == 1
