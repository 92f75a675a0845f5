"""Recurrence rules: an RFC 5545 RRULE (parsed by python-dateutil) in an IANA time zone.

Occurrences are computed on the zone's wall clock and only then turned into instants, so a
daily 09:00 Europe/Amsterdam rule fires at 09:00 local on both sides of a DST change (08:00
UTC in winter, 07:00 UTC in summer). A wall time the spring change skips (02:30) is read with
the offset before the change, i.e. 03:30 on the new clock; one the autumn change repeats
counts once, the first time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

RULE_MAX_LENGTH = 500
# Coarser than hourly only. MINUTELY and SECONDLY are refused outright: besides firing too
# often, they make dateutil step through every minute or second of the search.
FREQUENCIES = frozenset({"YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY"})
MIN_INTERVAL = timedelta(hours=1)
# A rule must show its first occurrence, and all of a COUNT, this soon after its start.
SEARCH_HORIZON = timedelta(days=10 * 366)
# dateutil stops looking for a rule that matches nothing (30 February) only at the year 9999,
# whatever UNTIL says: seconds of CPU. So the rule is checked on a twin of its start's
# calendar just before then (see `_calendar_twin`), where that search is short.
TWIN_YEARS = range(9960, 9988)
# How many occurrences are compared to find a rule that fires more often than hourly.
SAMPLE_SIZE = 500


class RecurrenceError(ValueError):
    """A rule, time zone or start that cannot make a schedule; `field` names the culprit."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone `name`; RecurrenceError for anything else (paths, typos, '')."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        raise RecurrenceError("timezone must be an IANA name, e.g. Europe/Paris", field="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RecurrenceError(
            "timezone must be an IANA name, e.g. Europe/Paris", field="timezone"
        ) from None


def normalize_rule(text: str) -> str:
    """`RRULE:freq=daily` -> `FREQ=DAILY`: one line, upper case, no property name."""
    rule = text.strip()
    if rule.upper().startswith("RRULE:"):
        rule = rule[len("RRULE:") :]
    return rule.upper()


@dataclass(frozen=True)
class Recurrence:
    """When a template fires: `rule` from `starts_at` (a wall time in `timezone`) on."""

    rule: str
    timezone: str
    starts_at: datetime  # naive: the wall time in `timezone`, the rule's DTSTART
    _rrule: rrule = field(repr=False, compare=False)

    @classmethod
    def parse(cls, rule: str, timezone: str, starts_at: datetime) -> Recurrence:
        """Check everything a schedule needs; RecurrenceError says what is wrong."""
        zone = zone_of(timezone)
        text = normalize_rule(rule)
        parts = _parts(text)
        if "BYEASTER" in parts:  # a dateutil extension, not RFC 5545
            raise RecurrenceError("BYEASTER is not part of RFC 5545", field="rrule")
        if parts.get("FREQ") not in FREQUENCIES:
            raise RecurrenceError(
                "the rule may fire at most hourly: FREQ must be HOURLY, DAILY, WEEKLY, MONTHLY"
                " or YEARLY",
                field="rrule",
            )
        start = starts_at.replace(tzinfo=zone)
        try:
            parsed = rrulestr(text, dtstart=start)
        except (ValueError, TypeError, OverflowError) as error:
            raise RecurrenceError(f"not a valid RRULE: {error}", field="rrule") from None
        if not isinstance(parsed, rrule):
            raise RecurrenceError("give one RRULE, without DTSTART or EXDATE", field="rrule")
        _check_sample(parsed, starts_at, parts)
        return cls(rule=text, timezone=timezone, starts_at=starts_at, _rrule=parsed)

    def next_after(self, instant: datetime) -> datetime | None:
        """The first occurrence strictly after `instant` (UTC), or None once the rule ended."""
        occurrence = self._rrule.after(instant.astimezone(UTC))
        return None if occurrence is None else occurrence.astimezone(UTC)

    def between(self, after: datetime, until: datetime) -> list[datetime]:
        """Every occurrence strictly after `after` and not after `until`, in UTC."""
        found = self._rrule.between(after.astimezone(UTC), until.astimezone(UTC), inc=True)
        return [o.astimezone(UTC) for o in found if o > after]

    def upcoming(self, instant: datetime, count: int) -> list[datetime]:
        """The next `count` occurrences after `instant`, in UTC."""
        found = self._rrule.xafter(instant.astimezone(UTC), count=count)
        return [occurrence.astimezone(UTC) for occurrence in found]


def _parts(text: str) -> dict[str, str]:
    if not text or len(text) > RULE_MAX_LENGTH or "\n" in text or "\r" in text:
        raise RecurrenceError(
            f"give one RRULE line of at most {RULE_MAX_LENGTH} characters", field="rrule"
        )
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if not equals or not name or not value or name in parts:
            raise RecurrenceError(f"not a valid RRULE part: {part!r}", field="rrule")
        parts[name] = value
    return parts


def _check_sample(parsed: rrule, starts_at: datetime, parts: dict[str, str]) -> None:
    """The rule occurs soon enough, and never twice within an hour (on the wall clock)."""
    twin_start = starts_at.replace(year=_calendar_twin(starts_at.year))
    window = parsed.replace(dtstart=twin_start, count=None, until=twin_start + SEARCH_HORIZON)
    sample = list(itertools.islice(window, SAMPLE_SIZE))
    if not sample:
        raise RecurrenceError("the rule never occurs within 10 years of its start", field="rrule")
    if any(later - earlier < MIN_INTERVAL for earlier, later in itertools.pairwise(sample)):
        raise RecurrenceError("the rule may fire at most once an hour", field="rrule")
    if "COUNT" in parts:
        count = int(parts["COUNT"])  # rrulestr accepted it, so it is a number
        if sum(1 for _ in itertools.islice(window, count)) < count:
            raise RecurrenceError(
                "all occurrences of a COUNT must fall within 10 years of the start",
                field="rrule",
            )


def _calendar_twin(year: int) -> int:
    """A year in TWIN_YEARS whose next ten years have the same calendar as `year`'s.

    Same weekday on 1 January and the same place in the four-year leap cycle make the same
    calendar as long as no century year (2100, 9900 ...) lies in between, and none does: the
    start is near today, and the twin years hold none.
    """
    weekday = date(year, 1, 1).weekday()
    return next(
        twin
        for twin in TWIN_YEARS
        if twin % 4 == year % 4 and date(twin, 1, 1).weekday() == weekday
    )
