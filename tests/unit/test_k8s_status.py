"""Status conditions with Kubernetes semantics, and the progress reporter of long converges."""

from ansible.module_utils.redisible_k8s_status import (
    ProgressReporter,
    merge_conditions,
    status_patch,
)


def test_progress_reporter_rate_limits_and_survives_api_errors():
    sent, now = [], [0.0]
    reporter = ProgressReporter(sent.append, interval=2.0, clock=lambda: now[0])
    assert reporter(0, 100, 0)
    now[0] = 1.0
    assert not reporter(10, 100, 500)          # too soon
    now[0] = 2.5
    assert reporter(20, 100, 900)
    assert reporter(100, 100, 5000, final=True)  # the last figure always goes out
    assert [s["resharding"]["slotsMoved"] for s in sent] == [0, 20, 100]

    def broken(_status):
        raise RuntimeError("API down")
    failing = ProgressReporter(broken, clock=lambda: 0.0)
    assert failing(1, 2, 3) is False and failing.errors == 1


def test_merge_conditions_keeps_transition_time_when_status_is_unchanged():
    first = merge_conditions([], [{"type": "Ready", "status": "False", "reason": "A"}], "t1", 1)
    again = merge_conditions(first, [{"type": "Ready", "status": "False", "reason": "B"}], "t2", 2)
    assert again[0]["lastTransitionTime"] == "t1" and again[0]["reason"] == "B"
    flipped = merge_conditions(again, [{"type": "Ready", "status": True}], "t3", 3)
    assert flipped[0]["status"] == "True" and flipped[0]["lastTransitionTime"] == "t3"
    status, changed = status_patch({"conditions": flipped, "observedGeneration": 3},
                                   [{"type": "Ready", "status": "True"}], {}, "t4", 3)
    assert changed is False and status["conditions"][0]["lastTransitionTime"] == "t3"
