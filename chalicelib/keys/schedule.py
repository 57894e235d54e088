"""How often ``KEY_ROTATION_SCHEDULE`` fires: the shortest time between two runs of an EventBridge schedule.

Scheduled rotation skips a run while the current key is younger than that
interval (minus :func:`slack`), so a retried or duplicated invocation cannot
rotate twice in one period.  EventBridge schedule expressions are
``rate(value unit)`` or a six-field ``cron(minutes hours day-of-month month
day-of-week year)``.  For a cron expression the interval is found by walking
the days of five years (every leap-year case) and taking the smallest gap
between consecutive runs; within a day, the gap between consecutive times.

Supported cron syntax: ``*``, ``?``, numbers, ``JAN``-``DEC``, ``SUN``-``SAT``
(day-of-week 1 is Sunday), ranges ``a-b``, steps ``a/n`` and ``a-b/n``, lists,
``L`` (last day of the month) in day-of-month, ``xL`` (last weekday x of the
month) and ``x#n`` (n-th weekday x) in day-of-week.  ``W`` is refused: say
the days instead.
"""

from __future__ import annotations

import calendar
import datetime
import itertools
import re
from dataclasses import dataclass

_RATE = re.compile(r"rate\(\s*(\d+)\s+(minutes?|hours?|days?)\s*\)")
_CRON = re.compile(r"cron\(([^()]*)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# EventBridge's English names, whatever the locale (calendar.month_abbr follows it).
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_WEEKDAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_YEARS_WALKED = 5  # covers a leap year and every month length
_SLACK_LIMIT = 3600  # EventBridge fires within a minute; a rotation takes seconds
_NO_SECOND_RUN = _YEARS_WALKED * 366 * 86400


def shortest_interval(expression: str) -> int:
    """Seconds between the two closest runs of ``expression``; ``ValueError`` if it is not one we can read."""
    text = expression.strip()
    rate = _RATE.fullmatch(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if value < 1:
            raise ValueError(f"{expression!r}: a rate must be at least 1")
        return value * _UNIT_SECONDS[unit]
    cron = _CRON.fullmatch(text)
    if cron:
        return _Cron.parse(cron.group(1)).shortest_interval()
    raise ValueError(f"{expression!r} is neither rate(N minutes|hours|days) nor cron(six fields)")


def slack(interval: int) -> int:
    """How much younger than ``interval`` a key may be and still be rotated: a run starts late, a key is made late."""
    return min(_SLACK_LIMIT, interval // 10)


def _number(token: str, names: dict[str, int], low: int, high: int) -> int:
    value = names.get(token.upper()) if not token.isdigit() else int(token)
    if value is None or not low <= value <= high:
        raise ValueError(f"{token!r} is not between {low} and {high}")
    return value


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """The numbers a cron field allows: lists of ``*``, ``a``, ``a-b``, each with an optional ``/step``."""
    names = names or {}
    found: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span in ("*", "?"):
            first, last = low, high
        else:
            start, _, end = span.partition("-")
            first = _number(start, names, low, high)
            last = _number(end, names, low, high) if end else (high if step else first)
        stride = int(step) if step else 1
        if stride < 1 or first > last:
            raise ValueError(f"cron field {field!r}: empty range or step")
        found.update(range(first, last + 1, stride))
    return frozenset(found)


@dataclass(frozen=True)
class _Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]  # day of month; 32 stands for L
    months: frozenset[int]
    weekdays: tuple[str, ...]  # raw day-of-week tokens, read per day
    years: frozenset[int]

    @classmethod
    def parse(cls, body: str) -> _Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ValueError(f"cron({body}) needs six fields: minutes hours day-of-month month day-of-week year")
        minutes, hours, days, months, weekdays, years = fields
        if "W" in days.upper():
            raise ValueError("cron: W (nearest weekday) is not supported in KEY_ROTATION_SCHEDULE")
        if (days == "?") == (weekdays == "?"):
            raise ValueError("cron: exactly one of day-of-month and day-of-week must be '?'")
        last_day = days.upper() == "L"
        return cls(
            minutes=_values(minutes, 0, 59),
            hours=_values(hours, 0, 23),
            days=frozenset({32}) if last_day else _values(days, 1, 31),
            months=_values(months, 1, 12, _MONTHS),
            weekdays=tuple(weekdays.upper().split(",")),
            years=_values(years, 1970, 2199),
        )

    def _weekday_matches(self, day: datetime.date) -> bool:
        weekday = day.isoweekday() % 7 + 1  # EventBridge: 1 is Sunday
        month_days = calendar.monthrange(day.year, day.month)[1]
        for token in self.weekdays:
            if "#" in token:
                name, nth = token.split("#")
                if _number(name, _WEEKDAYS, 1, 7) == weekday and (day.day - 1) // 7 + 1 == int(nth):
                    return True
            elif token.endswith("L") and token != "L":
                if _number(token[:-1], _WEEKDAYS, 1, 7) == weekday and day.day + 7 > month_days:
                    return True
            elif weekday in _values("7" if token == "L" else token, 1, 7, _WEEKDAYS):
                return True
        return False

    def _runs_on(self, day: datetime.date) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        if self.weekdays != ("?",):
            return self._weekday_matches(day)
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day in self.days or (32 in self.days and day.day == last)

    def shortest_interval(self) -> int:
        times = sorted(hour * 60 + minute for hour in self.hours for minute in self.minutes)
        start = datetime.date(datetime.date.today().year, 1, 1)
        walked = (start + datetime.timedelta(days=n) for n in range(_YEARS_WALKED * 366))
        run_days = [day.toordinal() for day in walked if self._runs_on(day)]
        if not run_days:
            return _NO_SECOND_RUN
        # Minutes from one run to the next: within a day, and from a day's last run to the next day's first.
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        gaps += [(later - earlier) * 1440 + times[0] - times[-1] for earlier, later in itertools.pairwise(run_days)]
        return min(gaps) * 60 if gaps else _NO_SECOND_RUN
