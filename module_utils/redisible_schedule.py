# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Cron schedules for recurring backups (5 fields, UTC), as pure functions over epoch seconds.

Standard cron semantics: minute hour day-of-month month day-of-week, with *, lists, ranges and
steps; when both day fields are restricted a day matching either one fires; Sunday is 0 or 7.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import time

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7))
NAMES = {3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
         4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]}


class ScheduleError(Exception):
    pass


def _value(text, index):
    names = NAMES.get(index)
    if names and text.lower() in names:
        return names.index(text.lower()) + (1 if index == 3 else 0)
    if not text.isdigit():
        raise ScheduleError("%r is not a number" % text)
    return int(text)


def _field(text, index):
    name, low, high = FIELDS[index]
    values = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        step = int(step) if step else 1
        if step < 1:
            raise ScheduleError("a step in the %s field must be at least 1" % name)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = (_value(v, index) for v in base.split("-", 1))
        else:
            first = _value(base, index)
            last = high if step > 1 and "/" in part else first
        if not (low <= first <= high and low <= last <= high and first <= last):
            raise ScheduleError("%s is out of range for the %s field (%d-%d)"
                                % (base, name, low, high))
        values.update(range(first, last + 1, step))
    if index == 4 and 7 in values:
        values.discard(7)
        values.add(0)
    return values


def parse(expression):
    """(minutes, hours, days, months, weekdays, day-of-month restricted, weekday restricted)."""
    text = MACROS.get(expression.strip(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise ScheduleError("a schedule has 5 fields (minute hour day month weekday), got %r"
                            % expression)
    fields = [_field(part, i) for i, part in enumerate(parts)]
    return fields + [parts[2] != "*", parts[4] != "*"]


def next_fire(expression, after):
    """The first firing time strictly after ``after`` (epoch seconds), as epoch seconds."""
    minutes, hours, days, months, weekdays, dom_set, dow_set = parse(expression)
    start = time.gmtime(int(after) // 60 * 60 + 60)
    year, month, day, hour, minute = start[:5]
    for _ in range(366 * 8):
        if month in months:
            last_day = calendar.monthrange(year, month)[1]
            if day <= last_day:
                weekday = (calendar.weekday(year, month, day) + 1) % 7  # Sunday = 0
                if dom_set and dow_set:
                    day_ok = day in days or weekday in weekdays
                else:
                    day_ok = day in days and weekday in weekdays
                if day_ok:
                    for h in sorted(hours):
                        if h < hour:
                            continue
                        for m in sorted(minutes):
                            if h == hour and m < minute:
                                continue
                            return calendar.timegm((year, month, day, h, m, 0))
        # the next day, from midnight
        hour = minute = 0
        day += 1
        if day > calendar.monthrange(year, month)[1]:
            day = 1
            month += 1
            if month > 12:
                month = 1
                year += 1
    raise ScheduleError("%r never fires" % expression)


def schedule_state(expression, last_fire, created, now):
    """Whether a backup is due now. ``last_fire``: epoch of the last scheduled run (None before
    the first); the schedule counts from the resource's creation. Returns (due, the fire time
    to record when due, the next fire time after that). Missed fires collapse into one run."""
    anchor = last_fire if last_fire is not None else created
    upcoming = next_fire(expression, anchor)
    if upcoming > now:
        return False, None, upcoming
    # The latest fire not after now: the run that is due.
    fire = upcoming
    while True:
        following = next_fire(expression, fire)
        if following > now:
            return True, fire, following
        fire = following


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)) if epoch is not None else None


def parse_iso(text):
    if not text:
        return None
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None
