"""Cron schedules of recurring backups, with literal times."""

import calendar

import pytest
from ansible.module_utils.redisible_schedule import (
    ScheduleError,
    iso,
    next_fire,
    parse_iso,
    schedule_state,
)


def at(text):
    return calendar.timegm(tuple(int(x) for x in text.replace("-", " ").replace(":", " ")
                                 .replace("T", " ").split()) + (0, 0, 0))


@pytest.mark.parametrize("expression, after, expected", [
    ("*/15 * * * *", "2026-11-28 14:07:30", "2026-11-28 14:15:00"),
    ("0 2 * * *", "2026-11-28 14:07:00", "2026-11-29 02:00:00"),
    ("@daily", "2026-12-31 23:59:00", "2027-01-01 00:00:00"),
    ("30 1 1 * *", "2026-11-28 00:00:00", "2026-12-01 01:30:00"),
    ("0 0 29 2 *", "2026-03-01 00:00:00", "2028-02-29 00:00:00"),
    ("0 9 * * mon-fri", "2026-11-28 10:00:00", "2026-11-30 09:00:00"),  # Saturday -> Monday
    ("0 0 * * 7", "2026-11-28 10:00:00", "2026-11-29 00:00:00"),        # 7 is Sunday
    ("0 12 13 * 5", "2026-11-28 13:00:00", "2026-12-04 12:00:00"),      # 13th or a Friday
    ("5 * * * *", "2026-11-28 14:05:00", "2026-11-28 15:05:00"),        # strictly after
])
def test_next_fire(expression, after, expected):
    assert next_fire(expression, at(after)) == at(expected)


@pytest.mark.parametrize("expression, message", [
    ("* * * *", "5 fields"), ("61 * * * *", "out of range"), ("*/0 * * * *", "at least 1"),
    ("x * * * *", "not a number"), ("0 0 31 2 *", "never fires")])
def test_bad_schedules_say_why(expression, message):
    with pytest.raises(ScheduleError) as caught:
        next_fire(expression, at("2026-11-28 00:00:00"))
    assert message in str(caught.value)


def test_due_counts_from_creation_and_collapses_missed_runs():
    created = at("2026-11-28 10:03:00")
    assert schedule_state("0 * * * *", None, created, at("2026-11-28 10:59:00")) == \
        (False, None, at("2026-11-28 11:00:00"))
    # The operator was away for three hours: one run, recorded at the latest fire.
    assert schedule_state("0 * * * *", None, created, at("2026-11-28 13:20:00")) == \
        (True, at("2026-11-28 13:00:00"), at("2026-11-28 14:00:00"))
    assert schedule_state("0 * * * *", at("2026-11-28 13:00:00"), created,
                          at("2026-11-28 13:40:00"))[0] is False


def test_iso_round_trip():
    assert iso(at("2026-11-28 13:00:00")) == "2026-11-28T13:00:00Z"
    assert parse_iso("2026-11-28T13:00:00Z") == at("2026-11-28 13:00:00")
    assert parse_iso("yesterday") is None and iso(None) is None
