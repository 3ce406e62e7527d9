"""The slot mover's pure helpers: how moves are grouped, windowed and retried."""

from ansible.module_utils.redisible_slot_migration import (
    group_moves_by_pair,
    is_transient,
    windows_by_keys,
)


def test_moves_are_grouped_by_pair_in_first_seen_order():
    moves = [(7, "b", "c"), (1, "a", "c"), (8, "b", "c"), (2, "a", "c"), (3, "a", "d")]
    assert group_moves_by_pair(moves) == [(("b", "c"), [7, 8]), (("a", "c"), [1, 2]),
                                          (("a", "d"), [3])]
    assert group_moves_by_pair([]) == []


def test_windows_hold_at_most_the_key_and_slot_budget():
    counts = [(0, 400), (1, 500), (2, 100), (3, 50), (4, 0)]
    assert windows_by_keys(counts, 1000, 512) == [[0, 1, 2], [3, 4]]
    # A slot bigger than the window is a window of its own, never split or dropped.
    assert windows_by_keys([(0, 10), (1, 5000), (2, 10)], 1000, 512) == [[0], [1], [2]]
    # Empty slots still count against the slot budget.
    assert windows_by_keys([(slot, 0) for slot in range(5)], 1000, 2) == [[0, 1], [2, 3], [4]]
    assert windows_by_keys([], 1000, 512) == []


def test_transient_migrate_errors_are_told_apart_from_real_ones():
    assert is_transient("Target instance replied with error: CLUSTERDOWN The cluster is down")
    assert is_transient("TRYAGAIN Multiple keys request during rehashing of slot")
    assert not is_transient("IOERR error or timeout reading to target instance")
    assert not is_transient("ERR Target instance replied with error: NOAUTH")
