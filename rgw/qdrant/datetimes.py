"""Datetime strings as Qdrant reads them, in range bounds and in payload values alike.

Qdrant tries chrono's relaxed RFC 3339 first, then the chrono formats `%Y-%m-%dT%H:%M:%S%.f%#z`,
`%Y-%m-%d %H:%M:%S%.f%#z`, the same two without an offset, `%Y-%m-%d %H:%M`, `%Y-%m-%dT%H:%M` and
`%Y-%m-%d` (no offset means UTC). chrono is lenient, so this is too, in the same ways: whitespace
before any number, 1-2 digit fields, a signed year of any length, offsets as `Z`, `+hh`, `+hhmm`,
`+hh:mm` or `UTC`, leap seconds. `tests/qdrant` checks it against the engine string by string.
Qdrant compares datetimes in whole microseconds, so that is what `timestamp` returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Possessive quantifiers, because chrono reads each field greedily and never backtracks.
_N = r"\s*+([0-9]{1,2}+)"
_YEAR = r"\s*+([+-][0-9]++|[0-9]{1,4}+)"
_FRACTION = r"(?:\.([0-9]++))?+"
_OFFSET = r"\s*+(?:[Zz]|([+\-\u2212])([0-9]{2})[:\s]*+([0-5][0-9])?)"
_SPACE = r"\s*+"

_DATE = "-".join((_YEAR, _N, _N))
_HM = ":".join((_N, _N))
_HMS = ":".join((_N, _N, _N)) + _FRACTION
_FORMATS = [
    re.compile(_DATE + separator + time + offset)
    for separator, time, offset in [
        ("T", _HMS, _OFFSET), (_SPACE, _HMS, _OFFSET), ("T", _HMS, ""), (_SPACE, _HMS, ""),
        (_SPACE, _HM, ""), ("T", _HM, ""), ("", "", ""),
    ]
]
# chrono's relaxed RFC 3339 (`str::parse::<DateTime<FixedOffset>>`): spaces before `-` and `:`,
# `T`, `t` or a space between date and time, an offset with minutes or `UTC`, trailing spaces.
_RELAXED = re.compile(
    (_SPACE + "-").join((_YEAR, _N, _N)) + "[Tt ]" + (_SPACE + ":").join((_N, _N, _N)) + _FRACTION
    + r"\s*+(?:(?i:UTC)|[Zz]|([+\-\u2212])([0-9]{2})[:\s]*+([0-5][0-9]))\s*+"
)
_MIN_YEAR, _MAX_YEAR = -262144, 262143  # chrono's NaiveDate range
_MAX_OFFSET_MINUTES = 23 * 60 + 59


@dataclass(frozen=True)
class Instant:
    """A datetime as the client wrote it (what Qdrant is sent) and as Qdrant compares it."""

    text: str
    micros: int  # since the Unix epoch, UTC


def timestamp(text: str) -> int | None:
    """Microseconds since the Unix epoch (UTC) of a datetime string, or None if Qdrant would not
    read it as one."""
    for pattern in (_RELAXED, *_FORMATS):
        found = pattern.fullmatch(text)
        if found is not None and (micros := _micros(*found.groups(default=None))) is not None:
            return micros
    return None


def _micros(year: str, month: str, day: str, hour: str | None = None, minute: str | None = None,
            second: str | None = None, fraction: str | None = None, sign: str | None = None,
            offset_hours: str | None = None, offset_minutes: str | None = None) -> int | None:
    y, m, d = int(year), int(month), int(day)
    h, mi, s = int(hour or 0), int(minute or 0), int(second or 0)
    if not (_MIN_YEAR <= y <= _MAX_YEAR and 1 <= m <= 12 and 1 <= d <= _days_in_month(y, m)):
        return None
    # A second of 60 is a leap second, which chrono keeps as one second past :59.
    if h > 23 or mi > 59 or s > 60:
        return None
    offset = 0
    if sign is not None:
        offset = int(offset_hours or 0) * 60 + int(offset_minutes or 0)
        if offset > _MAX_OFFSET_MINUTES:
            return None
        offset = offset if sign == "+" else -offset
    seconds = ((_days_from_civil(y, m, d) * 24 + h) * 60 + mi - offset) * 60 + s
    nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
    return seconds * 1_000_000 + nanos // 1000


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, for any year (Hinnant's method;
    Python's datetime stops at year 1, chrono does not)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468
