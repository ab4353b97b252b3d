"""When a rule applies: days, local hours, and not on public holidays.

Public holidays come from the well-kept `holidays` package rather than a table of ours. Its CN
calendar knows the statutory days off; the make-up working weekends (调休) are not in it, so a city
that needs them lists them as it needs in `extra_holidays` or keeps weekends in `days`.
The answer is cached per minute: a schedule is asked on every reading of its rule.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import holidays

from gridedge.rules.model import Schedule, Weekday

_WEEKDAYS = list(Weekday)


class CompiledSchedule:
    def __init__(self, schedule: Schedule) -> None:
        self._zone = ZoneInfo(schedule.timezone)
        self._days = frozenset(_WEEKDAYS.index(d) for d in schedule.days)
        self._hours = [tuple(r.split("-")) for r in schedule.hours]
        self._calendar = holidays.country_holidays(schedule.holidays) if schedule.holidays else None
        self._extra = frozenset(schedule.extra_holidays)
        self._minute = -1
        self._answer = False

    def active(self, now: float) -> bool:
        minute = int(now // 60)
        if minute != self._minute:
            self._minute, self._answer = minute, self._decide(now)
        return self._answer

    def _decide(self, now: float) -> bool:
        local = dt.datetime.fromtimestamp(now, tz=self._zone)
        day = local.date()
        if local.weekday() not in self._days or day in self._extra:
            return False
        if self._calendar is not None and day in self._calendar:
            return False
        hhmm = local.strftime("%H:%M")
        return not self._hours or any(start <= hhmm < end for start, end in self._hours)
