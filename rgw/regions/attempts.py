"""What happened when a source was asked (an outcome from a fixed vocabulary, plus the detail for people),
and the mode an answer came in.

Which outcomes send a read on to the next region, and which count against a region's health,
follow Envoy: only what says something about the region (it could not be reached, it reset, it
timed out, it or what fronts it said 502/503/504) counts; a definitive answer (a 4xx, a 501) is
the request's own and goes back to the client as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from rgw.http.client import Response


class Mode(StrEnum):
    """How complete and how first-choice an answer is (X-Gateway-Mode)."""

    NORMAL = "normal"  # the policy's preferred region
    FAILOVER = "failover"  # another region
    PARTIAL = "partial"  # a region whose copy is still being restored
    CACHE = "cache"  # a stored answer
    LEXICAL = "lexical"  # BM25 over the journal's text


class Outcome(Enum):
    OK = "ok"  # a 2xx or 3xx answer
    ANSWERED = "answered"  # a definitive 4xx or 501: the request's own answer, relayed as it is
    MISSING = "collection_missing"  # the region has no such collection (another may)
    OVERLOADED = "overloaded"  # 429: ask another region; not a fault of the region's
    SERVER_ERROR = "server_error"  # 500 and other 5xx: another region may answer; says nothing of health
    UNAVAILABLE = "unavailable"  # 502, 503, 504: the region, or what stands in front of it, cannot serve
    CONNECT_ERROR = "connect_error"  # refused, unreachable
    RESET = "reset"  # the connection closed before the whole answer
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol_error"  # not HTTP, or an answer over the size bound
    SKIPPED = "skipped"  # not asked: drained, restoring, too far behind, declined...
    NOT_TRIED = "not_tried"  # the request's deadline passed before its turn

    @property
    def retriable(self) -> bool:
        """The next region may do better."""
        return self in _RETRIABLE

    @property
    def region_failure(self) -> bool:
        """Counts towards ejecting the region (outlier detection)."""
        return self in _REGION_FAILURES


_RETRIABLE = frozenset({Outcome.MISSING, Outcome.OVERLOADED, Outcome.SERVER_ERROR, Outcome.UNAVAILABLE,
                        Outcome.CONNECT_ERROR, Outcome.RESET, Outcome.TIMEOUT, Outcome.PROTOCOL_ERROR})
_REGION_FAILURES = frozenset({Outcome.UNAVAILABLE, Outcome.CONNECT_ERROR, Outcome.RESET, Outcome.TIMEOUT,
                              Outcome.PROTOCOL_ERROR})


def is_collection_missing(reply: Response) -> bool:
    # Qdrant says `Not found: Collection `name` doesn't exist!`; a missing point is also a 404.
    return reply.status == 404 and b"Collection `" in reply.body and b"exist" in reply.body


def classify(reply: Response) -> Outcome:
    status = reply.status
    if status < 400:
        return Outcome.OK
    if status in (502, 503, 504):
        return Outcome.UNAVAILABLE
    if status == 429:
        return Outcome.OVERLOADED
    if status == 501 or status < 500:
        return Outcome.MISSING if is_collection_missing(reply) else Outcome.ANSWERED
    return Outcome.SERVER_ERROR


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (compiled-modules.txt)
class Attempt:
    source: str  # a region, partial:<region>, cache, lexical, or what refused (journal, mode...)
    outcome: Outcome
    detail: str  # for people: the error text, or why the source was skipped

    def __init__(self, source: str, outcome: Outcome, detail: str = "") -> None:
        self.source, self.outcome, self.detail = source, outcome, detail

    def __str__(self) -> str:
        return f"{self.source}: {self.detail or self.outcome.value}"


def skipped(source: str, why: str) -> Attempt:
    return Attempt(source, Outcome.SKIPPED, why)


class NoSourceAvailable(Exception):
    """No allowed source could answer; carries what was tried and why, for the 503."""

    def __init__(self, attempts: list[Attempt]) -> None:
        self.attempts = attempts
        super().__init__("; ".join(str(a) for a in attempts) or "no region configured")
