"""Datetime strings: read exactly as the engine reads them (which strings, which instant)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import qdrant_edge as qe

from rgw.qdrant.datetimes import timestamp

FRAGMENTS = ["2023", "0000", "+2023", "-0044", "+10000", "10000", "99", "-", " - ", "01", "1", "12", "13", "29",
             "31", "T", "t", " ", "  ", ":", " :", "00", "59", "60", "23", "24", ".5", ".123456789123", ".", "Z", "z",
             "UTC", "utc ", "+02:00", "+0200", "+02", "+02:", "+02 00", "-05:30", "\u221202:00", "+24:00", "+23:59",
             " +01:00", "+01:60", "x", ""]


def _near_misses(rng: random.Random) -> str:
    """Mostly valid datetimes, each part sometimes bent the way clients bend them."""
    def pick(usual: str, *odd: str) -> str:
        return rng.choice(odd) if odd and rng.random() < 0.25 else usual

    text = "-".join((pick("2023", "0099", "+2023", "-0044", "99", " 2023"), pick("01", "1", "13"),
                     pick("31", "9", "29", "32")))
    if rng.random() < 0.8:
        text += pick("T", " ", "t", "  ", "T ") + pick("10", "1", "24") + ":" + pick("00", "5", "60")
        if rng.random() < 0.7:
            text += ":" + pick("00", "5", "60", "61") + pick("", ".5", ".123456789123", ".")
        text += pick(rng.choice(["", "Z", "+02:00"]), "+0200", "+02", " +01:00", "+02 00", "+02:", "+02 0",
                     "\u221201:00", "+24:00", " ", " UTC")
    return text


def _cases() -> list[str]:
    rng = random.Random(3529)
    cases = [_near_misses(rng) for _ in range(1500)]
    cases += ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(3, 12))) for _ in range(1500)]
    return cases


def _engine(text: str) -> str | None:
    try:
        return str(qe.RangeDateTime(gte=text).gte)
    except ValueError:
        return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _as_rfc3339(micros: int) -> str | None:
    """The instant written plainly, for handing it back to the engine; None beyond Python's years."""
    try:
        return (_EPOCH + timedelta(microseconds=micros)).isoformat()
    except OverflowError:
        return None


@pytest.mark.parametrize("text", ["2024-01-01", "2024-03-10 12:30", "2024-03-10T12:30:00.123456789+02:00",
                                  "2024-1-5T1:2:3Z", "2024-01-05T10:00:00 UTC", "0001-01-01T00:00:00Z"])
def test_common_shapes_read_as_the_engine_reads_them(text: str) -> None:
    micros = timestamp(text)
    assert micros is not None
    plain = _as_rfc3339(micros)
    assert plain is not None and _engine(plain) == _engine(text)


def test_the_engine_and_this_parser_accept_and_read_the_same_strings() -> None:
    disagreements = []
    for text in _cases():
        micros, engine = timestamp(text), _engine(text)
        if (micros is None) != (engine is None):
            disagreements.append((text, micros, engine))
            continue
        # The instant, handed back to the engine in plain RFC 3339, must read as the same one.
        plain = None if micros is None or ":60" in str(engine) else _as_rfc3339(micros)
        if plain is not None and _engine(plain) != engine:
            disagreements.append((text, micros, engine))
    assert not disagreements, disagreements[:10]


def test_leap_seconds_and_distant_years() -> None:
    assert timestamp("2016-12-31T23:59:60Z") == timestamp("2017-01-01T00:00:00Z")
    assert timestamp("0000-01-01") == -62167219200_000000
    assert timestamp("+10000-01-01") == 253402300800_000000
    assert timestamp("2023-02-29") is None
